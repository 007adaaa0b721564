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


HEAD_REF = "${{ github.event.pull_request.head.sha || github.event.merge_group.head_sha || github.sha }}"
BASE_REF = "${{ github.event.pull_request.base.sha || github.event.merge_group.base_sha || github.sha }}"
PACK_MARKERS = ("--policy-pack", "policies", "check --plan", "gate.sh")


def runs(job: dict) -> list[str]:
    return [s["run"] for s in job.get("steps", []) if "run" in s]


def joined(command: str) -> str:
    return command.replace("\\\n", " ")


def crossgate_argv(job: dict) -> list[str]:
    """The one crossgate command line a job runs directly (continuation lines joined)."""
    (command,) = [r for r in runs(job) if "bin/crossgate" in r]
    line = next(line for line in joined(command).splitlines() if "bin/crossgate" in line)
    argv = shlex.split(line)
    return argv[next(i for i, a in enumerate(argv) if a.endswith("bin/crossgate")):]


def test_the_plan_job_runs_the_change_with_the_base_crossgate_and_evaluates_no_pack():
    job = load(GATE_WORKFLOW)["jobs"]["plan"]
    head, base = steps_using(job, "actions/checkout")
    assert head["with"]["ref"] == HEAD_REF and "path" not in head["with"]
    assert base["with"] == {"ref": BASE_REF, "path": BASE_DIR, "persist-credentials": False}
    # Whatever the change committed under base/ is removed before the base checkout.
    steps = job["steps"]
    assert steps[steps.index(base) - 1]["run"] == f"rm -rf -- {BASE_DIR}"
    gate_install, program_install = [r for r in runs(job) if "pip install" in r]
    assert gate_install.split("pip install", 1)[1].split()[-1] == "./base"  # crossgate only, no pack
    assert program_install.splitlines()[-1].endswith("-m pip install --disable-pip-version-check -r requirements.txt")
    assert crossgate_argv(job) == ["$RUNNER_TEMP/crossgate-venv/bin/crossgate", "preview", "--cwd", ".",
                                   "--stack", "$STACK", "--plan-out", "$RUNNER_TEMP/plan/plan.json"]
    assert [m for m in PACK_MARKERS if m in "\n".join(runs(job))] == []
    assert "sarif" not in json.dumps(job).lower() and "report" not in json.dumps(job).lower()


def test_the_plan_job_has_a_read_only_token_no_secrets_and_a_minimal_environment():
    job = load(GATE_WORKFLOW)["jobs"]["plan"]
    assert job["permissions"] == {"contents": "read"}
    assert "secrets" not in json.dumps(job) and "github.token" not in json.dumps(job)
    (command,) = [r for r in runs(job) if "bin/crossgate" in r]
    line = next(line for line in joined(command).splitlines() if "bin/crossgate" in line)
    assert shlex.split(line)[:5] == ["env", "-i", "PATH=/usr/bin:/bin", "HOME=$RUNNER_TEMP/program-home",
                                     "LANG=C.UTF-8"]


def test_the_plan_job_uploads_only_the_plan():
    job = load(GATE_WORKFLOW)["jobs"]["plan"]
    (upload,) = steps_using(job, "actions/upload-artifact")
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["name"] == "crossgate-plan-${{ inputs.stack || 'dev' }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/plan/plan.json"
    assert upload["with"]["if-no-files-found"] == "error"


def test_the_judge_is_the_required_check_and_runs_after_any_plan_job_outcome():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    assert job["name"] == "gate"
    assert job["needs"] == "plan"
    # Skipped jobs count as passed for required checks: the judge must run when the plan failed.
    assert job["if"] == "${{ !cancelled() }}"
    (judge,) = [s for s in job["steps"] if "ci/gate.sh" in s.get("run", "")]
    assert judge["env"]["CROSSGATE_PLAN_JOB"] == "${{ needs.plan.result }}"


def test_the_judge_never_checks_out_installs_or_runs_anything_from_the_change():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    (checkout,) = steps_using(job, "actions/checkout")
    assert checkout["with"] == {"ref": BASE_REF, "persist-credentials": False}
    commands = "\n".join(runs(job))
    assert "requirements.txt" not in commands and BASE_DIR + "/" not in commands
    (install,) = [r for r in runs(job) if "pip install" in r]
    assert install.split("pip install", 1)[1].split()[-2:] == [".", "./policies"]
    # The head commit is named once: to read its waivers file as data, never to check it out.
    (waivers_step,) = [s for s in job["steps"] if "head.sha" in json.dumps(s) or "head_sha" in json.dumps(s)]
    assert waivers_step["env"]["HEAD_SHA"] == HEAD_REF
    assert 'bash ci/change-waivers.sh "$HEAD_SHA" "$RUNNER_TEMP/change/policy-waivers.yaml"' in waivers_step["run"]
    assert "rm -f -- policy-waivers.yaml" in waivers_step["run"]
    # Every script it runs comes from the base checkout's ci/.
    for line in commands.splitlines():
        if re.search(r"\b(bash|sh|python3?) ", line) and "-m venv" not in line and "pip install" not in line:
            assert re.search(r"\bbash ci/[\w-]+\.sh ", line), line


def test_the_judge_runs_check_plan_with_the_base_pack_and_config_and_writes_the_reports():
    job = load(GATE_WORKFLOW)["jobs"]["gate"]
    (download,) = steps_using(job, "actions/download-artifact")
    assert download["continue-on-error"] is True  # a missing plan is gate.sh's exit 2, not a skipped step
    assert download["with"] == {"name": "crossgate-plan-${{ inputs.stack || 'dev' }}",
                                "path": "${{ runner.temp }}/plan"}
    (judge,) = [s for s in job["steps"] if "ci/gate.sh" in s.get("run", "")]
    line = joined(judge["run"]).splitlines()[-1]
    assert shlex.split(line) == ["bash", "ci/gate.sh", "--plan", "$RUNNER_TEMP/plan/plan.json", "$STACK", "policies",
                                 "policies/config/${POLICY_ENVIRONMENT}.json", "out"]
    assert judge["env"]["CROSSGATE_BIN"] == "${{ runner.temp }}/crossgate-venv/bin/crossgate"


def test_only_the_judges_download_the_plan():
    downloaders = [(w, j) for w, j, job in all_jobs() if steps_using(job, "actions/download-artifact")]
    assert downloaders == [("deploy.yml", "gate"), ("gate.yml", "gate")]


def test_sarif_upload_is_skipped_for_forks_and_runs_in_the_judge():
    jobs = load(GATE_WORKFLOW)["jobs"]
    uploaders = [job_id for job_id, job in jobs.items() if steps_using(job, "github/codeql-action/upload-sarif")]
    assert uploaders == ["gate"]
    (upload,) = steps_using(jobs["gate"], "github/codeql-action/upload-sarif")
    assert SAME_REPO_CONDITION in upload["if"]
    assert "!cancelled()" in upload["if"]
    # One run per pack, each with its own automationDetails.id: a single category would collide.
    assert upload["with"] == {"sarif_file": "out/crossgate.sarif"}


def test_only_the_judge_may_write_security_events():
    writers = [
        (workflow, job_id)
        for workflow, job_id, job in all_jobs()
        if job.get("permissions", {}).get("security-events") == "write"
    ]
    assert writers == [("gate.yml", "gate")]
    assert "secrets" not in json.dumps(load(GATE_WORKFLOW)["jobs"]["gate"])


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
    assert set(jobs) == {"plan", "gate", "deploy"}
    deploy = jobs["deploy"]
    assert deploy["needs"] == "gate"
    assert deploy["environment"] == "production"
    assert deploy["if"] == "${{ github.ref == 'refs/heads/main' }}"
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}


def test_deploy_gate_is_split_into_plan_and_judge_on_the_pushed_commit():
    jobs = load(DEPLOY_WORKFLOW)["jobs"]
    plan, judge = jobs["plan"], jobs["gate"]
    for job in (plan, judge):
        assert job["permissions"] == {"contents": "read"}
        (checkout,) = steps_using(job, "actions/checkout")
        assert "ref" not in checkout["with"] and "path" not in checkout["with"]
        assert job["env"]["STACK"] == "prod"
    assert crossgate_argv(plan) == ["$RUNNER_TEMP/crossgate-venv/bin/crossgate", "preview", "--cwd", ".",
                                    "--stack", "$STACK", "--plan-out", "$RUNNER_TEMP/plan/plan.json"]
    assert [m for m in PACK_MARKERS if m in "\n".join(runs(plan))] == []
    assert judge["needs"] == "plan" and judge["if"] == "${{ !cancelled() }}"
    assert "requirements.txt" not in "\n".join(runs(judge))
    (gate_step,) = [s for s in judge["steps"] if "gate.sh" in s.get("run", "")]
    assert shlex.split(gate_step["run"]) == [
        "bash", "ci/gate.sh", "--plan", "$RUNNER_TEMP/plan/plan.json", "$STACK", "policies",
        "policies/config/${STACK}.json", "out",
    ]
    assert gate_step["env"]["CROSSGATE_PLAN_JOB"] == "${{ needs.plan.result }}"


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
    assert len(checkouts) == 9
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
            "/requirements.txt",
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
        "requirements.txt",
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


def azure_gate_jobs() -> dict:
    stages = {stage["stage"]: stage for stage in load(AZURE_PIPELINE)["stages"]}
    return {job["job"]: job for job in stages["Gate"]["jobs"]}


def scripts(job: dict) -> list[str]:
    return [s["script"] for s in job["steps"] if "script" in s]


def test_azure_plan_job_runs_the_change_with_the_target_branchs_crossgate_and_no_pack():
    jobs = azure_gate_jobs()
    assert list(jobs) == ["plan", "gate"]
    plan = jobs["plan"]
    install, run_program = scripts(plan)
    assert 'trusted="${SYSTEM_PULLREQUEST_TARGETBRANCH:-$BUILD_SOURCEVERSION}"' in install
    assert 'git archive FETCH_HEAD | tar -x -C "$(Agent.TempDirectory)/base"' in install
    assert install.count("pip install") == 2 and "policies" not in install
    line = next(line for line in joined(run_program).splitlines() if "bin/crossgate" in line)
    argv = shlex.split(line)
    assert argv[:5] == ["env", "-i", "PATH=/usr/bin:/bin", "HOME=$(Agent.TempDirectory)/program-home", "LANG=C.UTF-8"]
    assert argv[5:] == ["$(Agent.TempDirectory)/crossgate-venv/bin/crossgate", "preview", "--cwd", ".", "--stack",
                        "$(gateStack)", "--plan-out", "$(Agent.TempDirectory)/plan/plan.json"]
    assert [m for m in PACK_MARKERS if m in "\n".join(scripts(plan))] == []
    (publish,) = [s for s in plan["steps"] if "publish" in s]
    assert (publish["artifact"], publish["condition"]) == ("crossgate-plan", "succeededOrFailed()")


def test_azure_judge_checks_out_only_the_target_branch_and_judges_the_plan():
    judge = azure_gate_jobs()["gate"]
    assert judge["dependsOn"] == "plan"
    assert judge["condition"] == "succeededOrFailed()"
    assert judge["variables"] == {"planJob": "$[ dependencies.plan.result ]"}
    assert judge["steps"][0] == {"checkout": "none"}
    fetch, install, run_gate = scripts(judge)
    assert 'trusted="${SYSTEM_PULLREQUEST_TARGETBRANCH:-$BUILD_SOURCEVERSION}"' in fetch
    assert "git checkout --quiet --detach FETCH_HEAD" in fetch
    assert "merge" not in fetch.lower()
    assert install.split("pip install", 1)[1].split()[-2:] == [".", "./policies"]
    commands = "\n".join(scripts(judge))
    assert "requirements.txt" not in commands and "SourceBranch" not in commands
    assert "rm -f -- policy-waivers.yaml" in run_gate
    assert 'bash ci/change-waivers.sh "${SYSTEM_PULLREQUEST_SOURCECOMMITID:-$BUILD_SOURCEVERSION}"' in joined(run_gate)
    last = joined(run_gate).splitlines()[-1]
    assert shlex.split(last) == ["bash", "ci/gate.sh", "--plan", "$(Pipeline.Workspace)/crossgate-plan/plan.json",
                                 "$(gateStack)", "policies", "policies/config/$(gateStack).json", "out"]
    (gate_step,) = [s for s in judge["steps"] if "ci/gate.sh" in s.get("script", "")]
    assert gate_step["env"]["CROSSGATE_PLAN_JOB"] == "$(planJob)"
    (download,) = [s for s in judge["steps"] if "download" in s]
    assert (download["download"], download["artifact"]) == ("current", "crossgate-plan")


def test_azure_pipeline_judge_publishes_reports():
    job = azure_gate_jobs()["gate"]
    steps = job["steps"]
    (gate_step,) = [s for s in steps if "gate.sh" in s.get("script", "")]
    tasks = {s["task"]: s for s in steps if "task" in s}
    junit = tasks["PublishTestResults@2"]
    assert junit["condition"] == "always()"
    assert junit["inputs"]["testResultsFormat"] == "JUnit"
    assert junit["inputs"]["testResultsFiles"] == "out/crossgate.junit.xml"
    sarif = tasks["PublishBuildArtifacts@1"]
    assert sarif["inputs"]["ArtifactName"] == "CodeAnalysisLogs"
    assert sarif["inputs"]["PathtoPublish"] == "out/crossgate.sarif"
    assert steps.index(gate_step) < steps.index(junit)
