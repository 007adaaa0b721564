"""`crossgate check` gates a stack export or a preview JSON from another program with the same packs,
waivers and reports, and refuses foreign or broken input."""

from __future__ import annotations

import copy
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
    ('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:d::p::t:i:T::x", "type": "t:i:T", '
     '"dependencies": "urn:pulumi:d::p::t:i:T::y"}]}}', "--stack-export",
     "resource urn:pulumi:d::p::t:i:T::x: 'dependencies' and 'propertyDependencies' must hold URN lists"),
    ('{"version": 3, "deployment": {"resources": [], "pending_operations": {}}}', "--stack-export",
     "'deployment.pending_operations' must be a list"),
    ('{"resources": []}', "--preview-json", "is not `pulumi preview --json` output"),
    ('{"steps": [{"op": "delete"}]}', "--preview-json", "holds no resources"),
    ('{"steps": [{"op": "create"}]}', "--preview-json", "step #0 (no URN): a 'create' step has no 'newState'"),
    ('[1, 2]', "--preview-json", "is not `pulumi preview --json` output"),
])
def test_malformed_input_exits_2(tmp_path, content, flag, message):
    path = tmp_path / "input.json"
    path.write_text(content)
    proc, _ = check(flag, str(path))
    assert proc.returncode == 2
    assert message in proc.stderr


# -- what the gate can't place is refused, naming it; what the engine would judge is judged once --

BASE_URN = "urn:pulumi:dev::things::test:index:Thing::base"


def _variant(tmp_path, source, change) -> str:
    doc = json.loads(source.read_text())
    change(doc)
    path = tmp_path / source.name
    path.write_text(json.dumps(doc))
    return str(path)


def _export_resource(doc, name):
    return next(r for r in doc["deployment"]["resources"] if r["urn"].endswith(f"::{name}"))


def _preview_step(doc, name):
    return next(s for s in doc["steps"] if s["urn"].endswith(f"::{name}"))


def test_stack_export_with_a_pending_create_exits_2_naming_the_resource(tmp_path):
    def pending(doc):
        new = copy.deepcopy(_export_resource(doc, "base"))
        new["urn"] = new["urn"].replace("::base", "::half-made")
        doc["deployment"]["pending_operations"] = [{"resource": new, "type": "creating"}]
    proc, _ = check("--stack-export", _variant(tmp_path, EXPORT, pending))
    assert proc.returncode == 2
    assert ("resource urn:pulumi:dev::things::test:index:Thing::half-made has a pending 'creating' operation "
            "(1 pending in all) from an interrupted update") in proc.stderr


def test_stack_export_with_a_duplicate_urn_exits_2_naming_it(tmp_path):
    def duplicate(doc):
        later = copy.deepcopy(_export_resource(doc, "base"))
        later["inputs"] = {"size": 1, "tags": {"owner": "me"}}  # would hide the first copy's violations
        doc["deployment"]["resources"].append(later)
    proc, _ = check("--stack-export", _variant(tmp_path, EXPORT, duplicate))
    assert proc.returncode == 2
    assert f"resource {BASE_URN} appears twice (#2 and #4); the gate can't tell which state is deployed" in proc.stderr


def test_stack_export_replaced_copy_awaiting_deletion_is_not_judged(tmp_path):
    def replaced(doc):
        old = copy.deepcopy(_export_resource(doc, "base"))
        old["delete"] = True
        old["inputs"] = {"size": 1000, "public": True}
        doc["deployment"]["resources"].insert(2, old)
    proc, doc = check("--stack-export", _variant(tmp_path, EXPORT, replaced))
    _, plain = check("--stack-export", str(EXPORT))
    assert proc.returncode == 1 and doc["errors"] == []
    assert findings(doc, "violations") == findings(plain, "violations")
    assert [r["urn"] for r in doc["resources"]].count(BASE_URN) == 1


@pytest.mark.parametrize("op", ["Create", "CREATE", "created", "upsert"])
def test_preview_step_with_an_op_pulumi_does_not_have_exits_2_naming_it(tmp_path, op):
    proc, _ = check("--preview-json", _variant(tmp_path, PREVIEW, lambda d: _preview_step(d, "base").update(op=op)))
    assert proc.returncode == 2
    assert f"step #2 ({BASE_URN}) has op '{op}', which is not a Pulumi step op" in proc.stderr


def test_preview_kept_step_without_new_state_exits_2(tmp_path):
    proc, _ = check("--preview-json", _variant(tmp_path, PREVIEW, lambda d: _preview_step(d, "base").pop("newState")))
    assert proc.returncode == 2
    assert f"step #2 ({BASE_URN}): a 'create' step has no 'newState', so its resource can't be judged" in proc.stderr


def test_preview_duplicate_urn_with_another_state_exits_2_naming_it(tmp_path):
    def duplicate(doc):
        later = copy.deepcopy(_preview_step(doc, "base"))
        later["newState"]["inputs"] = {"size": 1, "tags": {"owner": "me"}}
        doc["steps"].append(later)
    proc, _ = check("--preview-json", _variant(tmp_path, PREVIEW, duplicate))
    assert proc.returncode == 2
    assert (f"resource {BASE_URN} appears in steps #2 ('create') and #5 ('create') with different new state; "
            "only a replacement's steps may share a URN") in proc.stderr


def test_preview_same_state_twice_outside_a_replacement_exits_2(tmp_path):
    proc, _ = check("--preview-json", _variant(
        tmp_path, PREVIEW, lambda d: d["steps"].append(copy.deepcopy(_preview_step(d, "base")))))
    assert proc.returncode == 2
    assert f"resource {BASE_URN} appears in steps #2 ('create') and #5 ('create') with the same new state" in proc.stderr


def test_preview_replacement_steps_are_one_resource_judged_once(tmp_path):
    def replacement(doc):
        step = _preview_step(doc, "base")
        index = doc["steps"].index(step)
        step["op"] = "create-replacement"
        replace = {**copy.deepcopy(step), "op": "replace"}
        deleted = {"op": "delete-replaced", "urn": step["urn"], "oldState": copy.deepcopy(step["newState"])}
        doc["steps"][index + 1:index + 1] = [replace, deleted]
    proc, doc = check("--preview-json", _variant(tmp_path, PREVIEW, replacement))
    assert proc.returncode == 1 and doc["errors"] == []
    assert findings(doc, "violations") == [("no-public-flag", "base"), ("size-limit", "base"), ("stack-checks", "child")]
    assert [r["urn"] for r in doc["resources"]].count(BASE_URN) == 1


@pytest.mark.parametrize("flag, source", [("--stack-export", EXPORT), ("--preview-json", PREVIEW)])
def test_an_imported_document_with_a_duplicate_key_is_refused_naming_it(tmp_path, flag, source):
    path = tmp_path / "dup.json"
    path.write_text(source.read_text().replace("{", '{"x": 1, "x": 2, ', 1))  # a later key would win
    proc, doc = check(flag, str(path))
    assert proc.returncode == 2
    assert f"crossgate: error: {flag} {path} is not valid JSON: duplicate key" in proc.stderr


@pytest.mark.parametrize("flag", ["--stack-export", "--preview-json"])
def test_an_imported_document_with_nan_is_refused(tmp_path, flag):
    path = tmp_path / "nan.json"
    path.write_text('{"version": 3, "deployment": {"resources": [{"urn": "x", "outputs": {"n": NaN}}]}}')
    proc, _ = check(flag, str(path))
    assert proc.returncode == 2
    assert f"{flag} {path} is not valid JSON: NaN is not a JSON number" in proc.stderr
