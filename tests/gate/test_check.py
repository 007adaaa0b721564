"""`crossgate check` gates a stack export or a preview JSON from another program with the same packs,
waivers and reports, and refuses foreign or broken input."""

from __future__ import annotations

import json

import pytest

from helpers import FIXTURES, run_crossgate

BASIC = str(FIXTURES / "packs" / "basic")
EXPORT = FIXTURES / "imports" / "things.stack-export.json"
PREVIEW = FIXTURES / "imports" / "things.preview.json"


def check(*args: str):
    proc = run_crossgate("check", *args, "--policy-pack", BASIC, "--format", "json")
    return proc, (json.loads(proc.stdout) if proc.stdout else None)


def findings(doc, kind):
    return sorted((f["policy"], f["name"]) for f in doc[kind])


def test_stack_export_gets_the_same_verdicts_as_the_offline_preview():
    proc, doc = check("--stack-export", str(EXPORT))
    assert proc.returncode == 1
    preview = json.loads(run_crossgate("preview", "--cwd", str(FIXTURES / "programs" / "things"), "--stack", "dev",
                                       "--policy-pack", BASIC, "--format", "json").stdout)
    shared = {("no-public-flag", "base"), ("size-limit", "base"), ("stack-checks", "child")}
    assert shared <= set(findings(doc, "violations"))
    assert shared <= set(findings(preview, "violations"))
    assert doc["origin"] == "stack-export" and (doc["project"], doc["stack"]) == ("things", "dev")


def test_stack_export_encrypted_secret_is_an_unknown_secret_and_never_copied():
    proc, doc = check("--stack-export", str(EXPORT))
    assert ("secret-value", "child") in findings(doc, "indeterminate")
    child = next(r for r in doc["resources"] if r["name"] == "child")
    assert child["inputs"]["password"] == {"$secret": True}
    assert "v1:AAAA:BBBB" not in proc.stdout


def test_stack_export_keeps_source_positions():
    _, doc = check("--stack-export", str(EXPORT))
    base = next(f for f in doc["violations"] if f["policy"] == "no-public-flag")
    assert base["source"] == {"file": "__main__.py", "line": 13}


def test_preview_json_is_gated_and_deleted_resources_are_ignored():
    proc, doc = check("--preview-json", str(PREVIEW))
    assert proc.returncode == 1
    assert findings(doc, "violations") == [("no-public-flag", "base"), ("size-limit", "base"),
                                           ("stack-checks", "child")]
    assert findings(doc, "indeterminate") == [("reads-unknown", "child"), ("secret-value", "child")]
    assert "old" not in [r["name"] for r in doc["resources"]]
    child = next(r for r in doc["resources"] if r["name"] == "child")
    assert child["inputs"]["password"] == {"$secret": True}
    assert "[secret]" not in proc.stdout


def test_check_writes_the_same_reports(tmp_path):
    sarif = tmp_path / "out.sarif"
    proc = run_crossgate("check", "--preview-json", str(PREVIEW), "--policy-pack", BASIC, "--sarif", str(sarif))
    assert proc.returncode == 1
    runs = json.loads(sarif.read_text())["runs"]
    assert {r["ruleId"] for r in runs[0]["results"]} >= {"no-public-flag", "size-limit"}


@pytest.mark.parametrize("content, flag, message", [
    ('{"version": 3, "deployment": {"resources": [', "--stack-export", "is not valid JSON: Expecting value (line 1)"),
    ('{"steps": []}', "--stack-export", "is not a `pulumi stack export` document"),
    ('{"version": 2, "deployment": {"resources": []}}', "--stack-export", "deployment version 2 is not supported"),
    ('{"version": 3, "deployment": {"resources": [{"type": "x"}]}}', "--stack-export",
     "resource #0 has no valid 'urn' and 'type'"),
    ('{"resources": []}', "--preview-json", "is not `pulumi preview --json` output"),
    ('{"steps": [{"op": "create"}]}', "--preview-json", "holds no resources"),
    ('[1, 2]', "--preview-json", "is not `pulumi preview --json` output"),
])
def test_malformed_input_exits_2(tmp_path, content, flag, message):
    path = tmp_path / "input.json"
    path.write_text(content)
    proc, _ = check(flag, str(path))
    assert proc.returncode == 2
    assert message in proc.stderr
