"""ci/gate.sh, run against a stand-in crossgate that records its arguments and exits as told."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GATE_SH = Path(__file__).resolve().parents[2] / "ci" / "gate.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="ci/gate.sh needs bash")

FAKE_CROSSGATE = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "w") as log:
    json.dump(args, log)
if os.environ.get("FAKE_WRITE_REPORTS") == "1":
    for flag, text in (("--sarif", "{}"), ("--junit", "<testsuites/>"), ("--markdown", "## crossgate report")):
        with open(args[args.index(flag) + 1], "w") as report:
            report.write(text)
sys.exit(int(os.environ.get("FAKE_RC", "0")))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: ai-data-platform\nruntime: python\n")
    (tmp_path / "policies" / "config").mkdir(parents=True)
    (tmp_path / "policies" / "config" / "dev.json").write_text("{}")
    fake = tmp_path / "fake_crossgate"
    fake.write_text(f"#!{sys.executable}\n{FAKE_CROSSGATE}")
    fake.chmod(0o755)
    return tmp_path


def gate(project: Path, *args: str, rc: int = 0, reports: bool = True, **env: str):
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CROSSGATE_", "GITHUB_")) and key != "TF_BUILD"
    }
    environ.update(
        CROSSGATE_BIN=str(project / "fake_crossgate"),
        FAKE_LOG=str(project / "argv.json"),
        FAKE_RC=str(rc),
        FAKE_WRITE_REPORTS="1" if reports else "0",
    )
    environ.update(env)
    result = subprocess.run(
        [BASH, str(GATE_SH), *args], cwd=project, env=environ, capture_output=True, text=True, timeout=60
    )
    log = project / "argv.json"
    argv = json.loads(log.read_text()) if log.exists() else None
    return result, argv


REPORT_ARGS = [
    "--sarif", "out/crossgate.sarif",
    "--junit", "out/crossgate.junit.xml",
    "--markdown", "out/crossgate.md",
]


def test_the_script_parses():
    assert subprocess.run([BASH, "-n", str(GATE_SH)]).returncode == 0


def test_defaults_gate_stack_dev_with_its_config(project):
    result, argv = gate(project)
    assert result.returncode == 0, result.stderr
    assert argv == [
        "preview", "--cwd", ".", "--stack", "dev", "--policy-pack", "policies",
        "--policy-pack-config", "policies/config/dev.json", *REPORT_ARGS,
    ]
    assert (project / "out" / "crossgate.md").read_text() == "## crossgate report"


@pytest.mark.parametrize("rc", [0, 1, 2, 3])
def test_exit_status_is_crossgates_own(project, rc):
    result, argv = gate(project, "dev", rc=rc)
    assert argv is not None
    assert result.returncode == rc


def test_the_base_checkout_layout_used_by_pull_requests(project):
    shutil.copytree(project / "policies", project / "base" / "policies")
    result, argv = gate(project, "dev", "base/policies", "base/policies/config/dev.json", "reports")
    assert result.returncode == 0, result.stderr
    assert argv == [
        "preview", "--cwd", ".", "--stack", "dev", "--policy-pack", "base/policies",
        "--policy-pack-config", "base/policies/config/dev.json",
        "--sarif", "reports/crossgate.sarif",
        "--junit", "reports/crossgate.junit.xml",
        "--markdown", "reports/crossgate.md",
    ]


def test_an_explicit_empty_config_means_none_and_extra_arguments_pass_through(project):
    result, argv = gate(project, "dev", "policies", "", "out", "--", "--flag", "two words")
    assert result.returncode == 0, result.stderr
    assert argv == [
        "preview", "--cwd", ".", "--stack", "dev", "--policy-pack", "policies",
        *REPORT_ARGS, "--flag", "two words",
    ]


def test_environment_variables_stand_in_for_arguments(project):
    (project / "packs" / "strict").mkdir(parents=True)
    result, argv = gate(
        project, CROSSGATE_STACK="prod", CROSSGATE_POLICY_PACK="packs/strict", CROSSGATE_OUT_DIR="o"
    )
    assert result.returncode == 0, result.stderr
    assert argv == [
        "preview", "--cwd", ".", "--stack", "prod", "--policy-pack", "packs/strict",
        "--sarif", "o/crossgate.sarif", "--junit", "o/crossgate.junit.xml", "--markdown", "o/crossgate.md",
    ]


def test_the_waivers_file_is_used_when_present(project):
    (project / "policy-waivers.yaml").write_text("waivers: []\n")
    result, argv = gate(project, "dev")
    assert result.returncode == 0, result.stderr
    assert argv[argv.index("--waivers") + 1] == "policy-waivers.yaml"
    _, argv = gate(project, "dev", CROSSGATE_WAIVERS="")
    assert "--waivers" not in argv


def test_the_markdown_report_is_appended_to_the_step_summary(project):
    summary = project / "summary.md"
    summary.write_text("earlier step\n")
    result, _ = gate(project, "dev", rc=1, GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 1
    assert summary.read_text() == "earlier step\n## crossgate report"


def test_a_missing_report_is_noted_in_the_step_summary(project):
    summary = project / "summary.md"
    result, _ = gate(project, "dev", rc=2, reports=False, GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 2
    assert summary.read_text() == (
        "### crossgate: no report\n\ncrossgate exited 2 without writing out/crossgate.md.\n"
    )


def test_reports_from_an_earlier_run_are_removed_first(project):
    stale = project / "out" / "crossgate.sarif"
    stale.parent.mkdir()
    stale.write_text("stale pass")
    result, _ = gate(project, "dev", rc=2, reports=False)
    assert result.returncode == 2
    assert not stale.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dev", "no-such-pack"), "policy pack directory not found: no-such-pack"),
        (("dev", "policies", "policies/config/prod.json"), "policy pack config not found: policies/config/prod.json"),
    ],
)
def test_setup_errors_fail_closed_without_running_crossgate(project, args, message):
    result, argv = gate(project, *args)
    assert result.returncode == 2
    assert argv is None
    assert f"gate.sh: {message}" in result.stderr


def test_outside_the_project_root_it_fails_closed(project):
    (project / "Pulumi.yaml").unlink()
    result, argv = gate(project, "dev")
    assert result.returncode == 2
    assert argv is None
    assert "no Pulumi.yaml" in result.stderr


def test_a_missing_crossgate_fails_closed(project):
    result, argv = gate(project, "dev", CROSSGATE_BIN=str(project / "absent"))
    assert result.returncode == 2
    assert argv is None
    assert "CROSSGATE_BIN is not executable" in result.stderr


# The split CI runs: --plan-out (the untrusted half) and --plan (the judge)


def test_plan_out_runs_the_program_only_with_no_pack_waivers_or_reports(project):
    (project / "policy-waivers.yaml").write_text("waivers: []\n")
    result, argv = gate(project, "--plan-out", "plan/plan.json", "prod", reports=False)
    assert result.returncode == 0, result.stderr
    assert argv == ["preview", "--cwd", ".", "--stack", "prod", "--plan-out", "plan/plan.json"]
    assert not (project / "out").exists()


def test_plan_out_takes_only_the_stack(project):
    result, argv = gate(project, "--plan-out", "plan.json", "dev", "policies")
    assert (result.returncode, argv) == (2, None)
    assert "gate.sh: too many arguments" in result.stderr


def test_plan_judges_the_plan_with_the_pack_config_waivers_and_reports(project):
    (project / "plan.json").write_text("{}")
    (project / "change.yaml").write_text("waivers: []\n")
    result, argv = gate(project, "--plan", "plan.json", "dev", CROSSGATE_WAIVERS="change.yaml")
    assert result.returncode == 0, result.stderr
    assert argv == [
        "check", "--plan", "plan.json", "--stack", "dev", "--cwd", ".", "--policy-pack", "policies",
        "--policy-pack-config", "policies/config/dev.json", "--waivers", "change.yaml", *REPORT_ARGS,
    ]


def test_plan_needs_no_pulumi_project(project):
    (project / "Pulumi.yaml").unlink()
    (project / "plan.json").write_text("{}")
    result, argv = gate(project, "--plan", "plan.json", rc=1)
    assert result.returncode == 1
    assert argv[:3] == ["check", "--plan", "plan.json"]


def test_a_missing_plan_fails_closed_without_running_crossgate(project):
    summary = project / "summary.md"
    result, argv = gate(project, "--plan", "absent.json", GITHUB_STEP_SUMMARY=str(summary))
    assert (result.returncode, argv) == (2, None)
    message = "no plan at absent.json: the job that runs the program failed or wrote no plan"
    assert f"gate.sh: {message}" in result.stderr
    assert summary.read_text() == f"### crossgate: could not evaluate\n\n{message}\n"


@pytest.mark.parametrize("plan_job", ["failure", "cancelled", "skipped", "Failed", "SucceededWithIssues", ""])
@pytest.mark.parametrize("rc", [0, 1])
def test_a_plan_job_that_did_not_succeed_makes_the_verdict_could_not_evaluate(project, plan_job, rc):
    (project / "plan.json").write_text("{}")
    result, argv = gate(project, "--plan", "plan.json", rc=rc, CROSSGATE_PLAN_JOB=plan_job)
    assert argv is not None  # the reports are still written
    assert result.returncode == 2
    assert f"gate.sh: the job that wrote the plan ended '{plan_job}', so its plan is not trusted" in result.stderr


@pytest.mark.parametrize("plan_job", ["success", "Succeeded"])
def test_a_plan_job_that_succeeded_leaves_crossgates_verdict(project, plan_job):
    (project / "plan.json").write_text("{}")
    result, _ = gate(project, "--plan", "plan.json", rc=1, CROSSGATE_PLAN_JOB=plan_job)
    assert result.returncode == 1


def test_plan_refuses_to_let_crossgate_fall_back_to_a_local_waivers_file(project):
    (project / "plan.json").write_text("{}")
    (project / "policy-waivers.yaml").write_text("waivers: []\n")
    result, argv = gate(project, "--plan", "plan.json", CROSSGATE_WAIVERS="")
    assert (result.returncode, argv) == (2, None)
    assert "CROSSGATE_WAIVERS is empty, but crossgate would read ./policy-waivers.yaml" in result.stderr


@pytest.mark.parametrize("args", [("--plan",), ("--plan", ""), ("--plan", "a.json", "--plan-out", "b.json")])
def test_plan_flags_need_one_file_and_exclude_each_other(project, args):
    result, argv = gate(project, *args)
    assert (result.returncode, argv) == (2, None)
