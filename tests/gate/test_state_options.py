"""A stack export's resource options reach packs as `pulumi policy analyze` sends them (issue 10, item 9).

``stateToAnalyzerResource`` (pulumi/pulumi ``pkg/resource/deploy/analyze_snapshot.go``) hands packs the
state's protect, ignoreChanges, additionalSecretOutputs, aliases, customTimeouts (seconds) and parent;
the state doesn't record deleteBeforeReplace, so that one is never set.
"""

from __future__ import annotations

import json

from helpers import FIXTURES, run_crossgate

METADATA_PACK = str(FIXTURES / "packs" / "resource-metadata")
#: ResourceV3 fields a plan entry carries under the same name.
_SAME = ("urn", "custom", "type", "parent", "dependencies", "propertyDependencies", "provider", "protect",
         "ignoreChanges", "additionalSecretOutputs", "customTimeouts", "aliases")


def _stack_export_of_resource_metadata(tmp_path) -> str:
    plan = tmp_path / "plan.json"
    proc = run_crossgate("preview", "--cwd", str(FIXTURES / "programs" / "resource-metadata"), "--stack", "dev",
                         "--parallel", "1", "--plan-out", str(plan))
    assert proc.returncode == 0, proc.stderr
    resources = []
    for entry in json.loads(plan.read_text())["resources"]:
        state = {k: entry[k] for k in _SAME if entry.get(k) not in (None, [], {}, False)}
        state.update(custom=entry["custom"], inputs=entry["inputs"], outputs=entry["inputs"])
        resources.append(state)
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": resources}}))
    return str(path)


def test_a_stack_export_gets_the_resource_options_pulumi_policy_analyze_sends(tmp_path):
    proc = run_crossgate("check", "--stack-export", _stack_export_of_resource_metadata(tmp_path),
                         "--policy-pack", METADATA_PACK, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert sorted((f["policy"], f["name"]) for f in doc["violations"]) == [
        ("additional-secret-outputs", "secretOutput"), ("custom-timeouts", "customTimeouts"),
        ("dependencies", "dependsOn"), ("ignore-changes", "ignoreChanges"), ("name-type-urn-props", "identity"),
        ("parent", "child"), ("property-dependencies", "propertyDependency"), ("protect", "protected"),
        ("provider", "explicitProvider")]


def test_a_stack_export_custom_timeout_that_is_not_seconds_exits_2_naming_the_resource(tmp_path):
    path = _stack_export_of_resource_metadata(tmp_path)
    doc = json.loads(open(path).read())
    timed = next(r for r in doc["deployment"]["resources"] if r["urn"].endswith("::customTimeouts"))
    timed["customTimeouts"] = {"create": "5m"}
    with open(path, "w") as out:
        json.dump(doc, out)
    proc = run_crossgate("check", "--stack-export", path, "--policy-pack", METADATA_PACK, "--format", "json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["errors"] == [
        f"--stack-export {path}: resource {timed['urn']}: 'customTimeouts' must map create/update/delete/read "
        "to seconds"]
