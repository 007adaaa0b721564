"""The CI definitions: schema validity, zizmor, pinning, and the gate's security properties.

Everything here runs offline: check-jsonschema's builtin schemas ship inside the package, and
zizmor runs with --offline.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
GATE_WORKFLOW = WORKFLOWS / "gate.yml"
DEPLOY_WORKFLOW = WORKFLOWS / "deploy.yml"
AZURE_PIPELINE = REPO / "ci" / "azure-pipelines.yml"
CODEOWNERS = REPO / ".github" / "CODEOWNERS"
DEPENDABOT = REPO / ".github" / "dependabot.yml"

SECURITY_TEAM = "@example-org/platform-security"
BASE_DIR = "base"
SAME_REPO_CONDITION = "github.event.pull_request.head.repo.full_name == github.repository"
PINNED_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)"
    r"@(?P<sha>[0-9a-f]{40})\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*$"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s")


def venv_tool(name: str) -> str:
    """The console script installed beside this interpreter (the project's venv), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it is in the [test] extra (make venv)")
    return found


def run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)


def check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "check_jsonschema", *args)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    return workflow[True]


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def all_jobs() -> list[tuple[str, str, dict]]:
    return [
        (path.name, job_id, job)
        for path in workflow_files()
        for job_id, job in load(path)["jobs"].items()
    ]


# Schemas


def test_the_workflows_are_exactly_gate_and_deploy():
    assert [p.name for p in workflow_files()] == ["deploy.yml", "gate.yml"]
    assert list(WORKFLOWS.glob("*.yaml")) == []


@pytest.mark.parametrize("workflow", ["gate.yml", "deploy.yml"])
def test_workflow_validates_against_the_github_workflow_schema(workflow):
    result = check_jsonschema("--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / workflow))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize("workflow", ["gate.yml", "deploy.yml"])
def test_every_workflow_job_has_a_timeout(workflow):
    result = check_jsonschema(
        "--builtin-schema", "custom.github-workflows-require-timeout", str(WORKFLOWS / workflow)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_azure_pipeline_validates_against_its_schema():
    result = check_jsonschema(
        "--builtin-schema",
        "vendor.azure-pipelines",
        "--data-transform",
        "azure-pipelines",
        "--regex-variant",
        "nonunicode",
        str(AZURE_PIPELINE),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_dependabot_config_validates():
    result = check_jsonschema("--builtin-schema", "vendor.dependabot", str(DEPENDABOT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(DEPENDABOT)["updates"][0]["package-ecosystem"] == "github-actions"


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    steps: []\n")  # no runs-on
    result = check_jsonschema("--builtin-schema", "vendor.github-workflows", str(broken))
    assert result.returncode == 1


# zizmor


def zizmor(target: Path) -> tuple[int, list[dict], str]:
    result = run(venv_tool("zizmor"), "--offline", "--format", "json", str(target))
    findings = json.loads(result.stdout) if result.stdout.strip() else []
    return result.returncode, findings, result.stderr


def test_zizmor_offline_finds_nothing():
    returncode, findings, stderr = zizmor(WORKFLOWS)
    assert [f["ident"] for f in findings] == [], stderr
    assert returncode == 0, stderr


def test_zizmor_flags_an_unpinned_workflow(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "name: bad\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )
    returncode, findings, _ = zizmor(workflows)
    assert returncode != 0
    assert {"unpinned-uses", "artipacked"} <= {f["ident"] for f in findings}


# Pinning


def test_every_uses_is_pinned_to_a_commit_sha_with_a_version_comment():
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in workflow_files():
        uses_lines = [line for line in path.read_text().splitlines() if USES_LINE.match(line)]
        parsed_uses = [
            step["uses"]
            for job in load(path)["jobs"].values()
            for step in job.get("steps", [])
            if "uses" in step
        ]
        assert len(uses_lines) == len(parsed_uses), path.name
        for line in uses_lines:
            match = PINNED_USES.match(line)
            assert match, f"{path.name}: not pinned to a SHA with a # vX.Y.Z comment: {line.strip()}"
            pins.setdefault(match["action"], set()).add((match["sha"], match["version"]))
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
        "actions/download-artifact",
        "github/codeql-action/upload-sarif",
        "azure/login",
        "pulumi/auth-actions",
        "pulumi/actions",
    }
    # One pin per action across both workflows, so an update cannot leave a stale copy behind.
    assert {action: len(versions) for action, versions in pins.items()} == {a: 1 for a in pins}


# gate.yml


def test_gate_workflow_triggers_on_pull_requests_and_is_reusable():
    on = triggers(load(GATE_WORKFLOW))
    assert set(on) == {"pull_request", "merge_group", "workflow_call"}
    assert on["workflow_call"]["inputs"]["stack"]["default"] == "dev"
    assert on["workflow_call"]["inputs"]["policy-environment"]["default"] == "dev"


def test_gate_job_runs_the_gate_with_the_pack_from_the_base_checkout():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    assert job["name"] == "gate"
    steps = job["steps"]
    checkouts = steps_using(job, "actions/checkout")
    assert len(checkouts) == 2
    head, base = checkouts
    assert "path" not in head["with"]
    assert head["with"]["ref"].startswith("${{ github.event.pull_request.head.sha ||")
    assert base["with"]["path"] == BASE_DIR
    assert base["with"]["ref"].startswith("${{ github.event.pull_request.base.sha ||")
    # Whatever the change committed under base/ is removed before the trusted checkout.
    assert steps.index(base) > steps.index(head)
    clear = steps[steps.index(base) - 1]
    assert clear["run"] == f"rm -rf -- {BASE_DIR}"

    installs = [s["run"] for s in steps if "pip install" in s.get("run", "")]
    assert len(installs) == 2
    gate_install, program_install = installs
    # The gate from base/, into a virtualenv outside the workspace ...
    assert gate_install.split("pip install", 1)[1].split()[-2:] == ["./base", "./base/policies"]
    assert '"$RUNNER_TEMP/crossgate-venv/bin/python"' in gate_install
    # ... and the program's own dependencies into the .venv that Pulumi.yaml names.
    assert program_install.splitlines()[-1].endswith(".venv/bin/python -m pip install --disable-pip-version-check -r requirements.txt")

    gate_steps = [s for s in steps if "gate.sh" in s.get("run", "")]
    assert len(gate_steps) == 1
    argv = shlex.split(gate_steps[0]["run"])
    assert argv[:2] == ["bash", f"{BASE_DIR}/ci/gate.sh"]
    stack, pack, config, out_dir = argv[2:]
    assert stack == "$STACK"
    assert pack == f"{BASE_DIR}/policies"
    assert config == f"{BASE_DIR}/policies/config/${{POLICY_ENVIRONMENT}}.json"
    assert out_dir == "out"
    assert gate_steps[0]["env"]["CROSSGATE_BIN"] == "${{ runner.temp }}/crossgate-venv/bin/crossgate"


def test_gate_job_has_a_read_only_token():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    assert job["permissions"] == {"contents": "read"}
    assert "secrets" not in json.dumps(job)


def test_sarif_upload_is_skipped_for_forks_and_runs_after_the_gate():
    jobs = load(GATE_WORKFLOW)["jobs"]
    uploaders = [job_id for job_id, job in jobs.items() if steps_using(job, "github/codeql-action/upload-sarif")]
    assert uploaders == ["sarif"]
    job = jobs["sarif"]
    assert job["needs"] == "gate"
    assert SAME_REPO_CONDITION in job["if"]
    assert "!cancelled()" in job["if"]
    (upload,) = steps_using(job, "github/codeql-action/upload-sarif")
    # One run per pack, each with its own automationDetails.id: a single category would collide.
    assert upload["with"] == {"sarif_file": "out/crossgate.sarif"}


def test_only_the_sarif_job_may_write_security_events():
    writers = [
        (workflow, job_id)
        for workflow, job_id, job in all_jobs()
        if job.get("permissions", {}).get("security-events") == "write"
    ]
    assert writers == [("gate.yml", "sarif")]


def test_the_reports_are_uploaded_as_an_artifact_even_when_the_gate_fails():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    (upload,) = steps_using(job, "actions/upload-artifact")
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["path"] == "out/"


def test_azure_preview_runs_only_where_oidc_is_configured():
    job = load(GATE_WORKFLOW)["jobs"]["preview"]
    assert job["if"].startswith("${{ vars.AZURE_CLIENT_ID != '' &&")
    assert job["needs"] == "gate"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (preview,) = steps_using(job, "pulumi/actions")
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["policyPacks"] == f"{BASE_DIR}/policies"
    (login,) = steps_using(job, "azure/login")
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}


def test_gate_concurrency_is_per_workflow_ref_and_stack():
    concurrency = load(GATE_WORKFLOW)["concurrency"]
    group = concurrency["group"]
    for part in ("github.workflow", "github.ref", "inputs.stack"):
        assert part in group
    assert concurrency["cancel-in-progress"] is True


# deploy.yml


def test_deploy_triggers_on_push_to_main_and_manually():
    on = triggers(load(DEPLOY_WORKFLOW))
    assert on == {"push": {"branches": ["main"]}, "workflow_dispatch": None}


def test_deploy_job_needs_the_gate_and_the_protected_environment():
    jobs = load(DEPLOY_WORKFLOW)["jobs"]
    assert set(jobs) == {"gate", "deploy"}
    deploy = jobs["deploy"]
    assert deploy["needs"] == "gate"
    assert deploy["environment"] == "production"
    assert deploy["if"] == "${{ github.ref == 'refs/heads/main' }}"
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}


def test_deploy_gate_runs_the_same_script_on_the_pushed_commit():
    job = load(DEPLOY_WORKFLOW)["jobs"]["gate"]
    assert job["permissions"] == {"contents": "read"}
    (checkout,) = steps_using(job, "actions/checkout")
    assert "ref" not in checkout["with"] and "path" not in checkout["with"]
    (gate_step,) = [s for s in job["steps"] if "gate.sh" in s.get("run", "")]
    assert shlex.split(gate_step["run"]) == [
        "bash", "ci/gate.sh", "$STACK", "policies", "policies/config/${STACK}.json", "out",
    ]
    assert job["env"]["STACK"] == "prod"


def test_deploy_logs_in_with_oidc_and_runs_pulumi_up_with_the_pack():
    job = load(DEPLOY_WORKFLOW)["jobs"]["deploy"]
    (login,) = steps_using(job, "azure/login")
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    (up,) = steps_using(job, "pulumi/actions")
    assert {k: up["with"][k] for k in ("command", "stack-name", "policyPacks", "policyPackConfigs")} == {
        "command": "up",
        "stack-name": "prod",
        "policyPacks": "policies",
        "policyPackConfigs": "policies/config/prod.json",
    }
    assert up["env"]["ARM_USE_OIDC"] == "true"
    assert "secrets." not in DEPLOY_WORKFLOW.read_text()


def test_deploys_are_serialised_per_stack_and_never_cancelled():
    concurrency = load(DEPLOY_WORKFLOW)["concurrency"]
    assert concurrency == {"group": "pulumi-stack-prod", "cancel-in-progress": False}


# Both workflows


def test_top_level_permissions_are_empty_and_every_job_declares_its_own():
    for path in workflow_files():
        assert load(path)["permissions"] == {}, path.name
    assert [(w, j) for w, j, job in all_jobs() if "permissions" not in job] == []


def test_only_the_azure_jobs_may_request_an_oidc_token():
    requesters = [
        (workflow, job_id)
        for workflow, job_id, job in all_jobs()
        if job["permissions"].get("id-token") == "write"
    ]
    assert requesters == [("deploy.yml", "deploy"), ("gate.yml", "preview")]


def test_no_checkout_persists_credentials():
    checkouts = [
        step
        for _, _, job in all_jobs()
        for step in steps_using(job, "actions/checkout")
    ]
    assert len(checkouts) == 8
    assert {step["with"]["persist-credentials"] for step in checkouts} == {False}


# CODEOWNERS


def codeowners_rules() -> list[tuple[str, list[str]]]:
    rules = []
    for line in CODEOWNERS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def owners_of(path: str) -> list[str]:
    """Owners from the last matching rule, for the anchored patterns this file uses."""
    owners: list[str] = []
    for pattern, rule_owners in codeowners_rules():
        assert pattern.startswith("/"), f"unanchored pattern {pattern!r} is not handled here"
        anchored = pattern.lstrip("/")
        if pattern.endswith("/"):
            matched = path.startswith(anchored)
        else:
            matched = path == anchored or PurePosixPath(path).is_relative_to(anchored)
        if matched:
            owners = rule_owners
    return owners


def test_codeowners_lists_the_security_critical_paths():
    assert dict(codeowners_rules()) == {
        pattern: [SECURITY_TEAM]
        for pattern in (
            "/.github/",
            "/ci/",
            "/.ci/",
            "/policies/",
            "/policies/config/",
            "/crossgate/",
            "/Makefile",
            "/pyproject.toml",
            "/policy-waivers.yaml",
        )
    }


@pytest.mark.parametrize(
    "path",
    [
        ".github/workflows/gate.yml",
        ".github/CODEOWNERS",
        ".ci/run",
        "ci/gate.sh",
        "ci/azure-pipelines.yml",
        "policies/PulumiPolicy.yaml",
        "policies/config/prod.json",
        "crossgate/cli.py",
        "Makefile",
        "pyproject.toml",
        "policy-waivers.yaml",
    ],
)
def test_codeowners_gives_security_critical_files_to_the_security_team(path):
    assert owners_of(path) == [SECURITY_TEAM]


def test_codeowners_leaves_the_program_to_its_authors():
    assert owners_of("infra/__main__.py") == []


# Azure Pipelines


def test_azure_pipeline_deploy_stage_depends_on_the_gate():
    stages = {stage["stage"]: stage for stage in load(AZURE_PIPELINE)["stages"]}
    assert list(stages) == ["Gate", "Deploy"]
    deploy = stages["Deploy"]
    assert deploy["dependsOn"] == "Gate"
    assert deploy["condition"].startswith("and(succeeded(), eq(variables['Build.SourceBranch'], 'refs/heads/main')")
    (job,) = deploy["jobs"]
    assert job["environment"] == "production"
    steps = job["strategy"]["runOnce"]["deploy"]["steps"]
    (azure_cli,) = [s for s in steps if s.get("task") == "AzureCLI@2"]
    assert azure_cli["inputs"]["addSpnToEnvironment"] is True
    assert "pulumi up --yes --non-interactive --stack prod" in azure_cli["inputs"]["inlineScript"]
    assert "--policy-pack-config policies/config/prod.json" in azure_cli["inputs"]["inlineScript"]


def test_azure_pipeline_gate_stage_runs_the_script_and_publishes_reports():
    stages = {stage["stage"]: stage for stage in load(AZURE_PIPELINE)["stages"]}
    (job,) = stages["Gate"]["jobs"]
    steps = job["steps"]
    (gate_step,) = [s for s in steps if "gate.sh" in s.get("script", "")]
    assert shlex.split(gate_step["script"])[:2] == ["bash", "ci/gate.sh"]
    tasks = {s["task"]: s for s in steps if "task" in s}
    junit = tasks["PublishTestResults@2"]
    assert junit["condition"] == "always()"
    assert junit["inputs"]["testResultsFormat"] == "JUnit"
    assert junit["inputs"]["testResultsFiles"] == "out/crossgate.junit.xml"
    sarif = tasks["PublishBuildArtifacts@1"]
    assert sarif["inputs"]["ArtifactName"] == "CodeAnalysisLogs"
    assert sarif["inputs"]["PathtoPublish"] == "out/crossgate.sarif"
    assert steps.index(gate_step) < steps.index(junit)
