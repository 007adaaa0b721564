"""Both halves of the CI gate, run locally as CI runs them: `ci/gate.sh --plan-out` in the project (one
process), `ci/gate.sh --plan` in a directory that holds no program (another), with the real crossgate.
The judge finds exactly what `crossgate preview` finds on the starting sketch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GATE_SH = REPO / "ci" / "gate.sh"
SKETCH = REPO / "tests" / "fixtures" / "sketch"
PACK = REPO / "policies"
BASH = shutil.which("bash")
CROSSGATE = Path(sys.executable).parent / "crossgate"

pytestmark = pytest.mark.skipif(BASH is None or not CROSSGATE.exists(), reason="needs bash and the crossgate script")


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CROSSGATE_", "GITHUB_", "PULUMI_CONFIG_PASSPHRASE")) and k != "TF_BUILD"}
    return {**env, "CROSSGATE_BIN": str(CROSSGATE), **extra}


def findings(doc: dict) -> list[tuple[str, str, str, str]]:
    return sorted((kind, f["policy"], f["name"], f["level"])
                  for kind in ("violations", "indeterminate", "waived") for f in doc[kind])


def test_plan_then_judge_in_separate_processes_finds_what_preview_finds_on_the_sketch(tmp_path):
    plan = tmp_path / "plan" / "plan.json"
    planned = subprocess.run([BASH, str(GATE_SH), "--plan-out", str(plan), "dev", "--", "--parallel", "1"],
                             cwd=SKETCH, env=environ(), capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stderr
    assert not (SKETCH / "out").exists()  # the untrusted half writes no report

    judge_dir = tmp_path / "judge"  # stands in for the base checkout: no program, no Pulumi.yaml
    judge_dir.mkdir()
    judged = subprocess.run(
        [BASH, str(GATE_SH), "--plan", str(plan), "dev", str(PACK), "", "out",
         "--", "--parallel", "1", "--json", "out/crossgate.json"],
        cwd=judge_dir, env=environ(CROSSGATE_WAIVERS="", CROSSGATE_PLAN_JOB="success"),
        capture_output=True, text=True, timeout=300)
    assert judged.returncode == 1, judged.stderr
    assert "gate.sh: crossgate exited 1: mandatory policy violation" in judged.stdout
    for report in ("crossgate.sarif", "crossgate.junit.xml", "crossgate.md", "crossgate.json"):
        assert (judge_dir / "out" / report).is_file(), report

    preview = subprocess.run([str(CROSSGATE), "preview", "--cwd", str(SKETCH), "--stack", "dev", "--policy-pack",
                              str(PACK), "--parallel", "1", "--format", "json"],
                             env=environ(), capture_output=True, text=True, timeout=300)
    assert preview.returncode == 1, preview.stderr
    judged_doc = json.loads((judge_dir / "out" / "crossgate.json").read_text())
    assert findings(judged_doc) == findings(json.loads(preview.stdout))
    expected = json.loads((SKETCH / "expected-findings.json").read_text())["findings"]
    assert [list(f[1:]) for f in findings(judged_doc) if f[0] == "violations"] == sorted(expected)
