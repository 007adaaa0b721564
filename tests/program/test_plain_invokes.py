"""A plain invoke whose result is unknown offline blocks as indeterminate, naming the function and line
(issue 10, item 3): the program gets a stand-in and runs on, so the rest of the plan is still judged."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from helpers import FIXTURES, REPO, run_crossgate

SCHEMA = json.loads((REPO / "crossgate" / "schemas" / "result.schema.json").read_text())
POLICIES = str(REPO / "policies")
BASIC = str(FIXTURES / "packs" / "basic")
POLICY = "invoke-result-read-as-plain-value"
GET_ROLE = "azure-native:authorization:getRoleDefinition"

ROLE_PROGRAM = '''
import pulumi
from pulumi_azure_native import authorization

scope = "/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/rg"
role = authorization.get_role_definition(role_definition_id="acdd72a7-3385-48ef-bd42-f606fba81ae7", scope=scope)
authorization.RoleAssignment(
    "reader",
    principal_id="00000000-0000-0000-0000-000000000009",
    principal_type="ServicePrincipal",
    role_definition_id=role.id,
    scope=scope,
)
'''
#: What the pack's role policies say on the assignment when its roleDefinitionId is unknown.
ROLE_POLICIES_ON_READER = [
    ("rbac-data-roles-allowlist", "reader"),
    ("rbac-no-key-listing-or-data-owner-roles", "reader"),
    ("rbac-no-privileged-roles-for-workloads", "reader"),
]

TYPED_PROGRAM = '''
import pulumi

@pulumi.output_type
class GetRoleResult:
    def __init__(__self__, id=None, permissions=None, count=None):
        if permissions and not isinstance(permissions, list):
            raise TypeError("Expected argument 'permissions' to be a list")
        pulumi.set(__self__, "id", id)
        pulumi.set(__self__, "permissions", permissions)
        pulumi.set(__self__, "count", count)

    @property
    @pulumi.getter
    def id(self) -> str:
        return pulumi.get(self, "id")

    @property
    @pulumi.getter
    def permissions(self) -> list:
        return pulumi.get(self, "permissions")

    @property
    @pulumi.getter
    def count(self) -> int:
        return pulumi.get(self, "count")

class Thing(pulumi.CustomResource):
    def __init__(self, name, props, opts=None):
        super().__init__("test:index:Thing", name, props, opts)
'''


def project(tmp_path: Path, body: str, name: str = "roles") -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(body))
    return root


def line_of(root: Path, text: str) -> int:
    return next(i for i, line in enumerate((root / "__main__.py").read_text().splitlines(), 1) if text in line)


def preview(root: Path, *extra: str):
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json", *extra)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    if doc:
        jsonschema.validate(doc, SCHEMA)
    return proc, doc


def indeterminate(doc: dict) -> list[tuple[str, str]]:
    return sorted((f["policy"], f["name"]) for f in doc["indeterminate"] if f["level"] == "mandatory")


def the_read(doc: dict) -> dict:
    [finding] = [f for f in doc["indeterminate"] if f["pack"] == "crossgate"]
    return finding


def assert_names_the_function_and_line(finding: dict, root: Path, via: str = "invoke") -> None:
    assert (finding["policy"], finding["level"], finding["type"], finding["name"]) == (
        POLICY, "mandatory", "pulumi:pulumi:Stack", f"{root.name}-dev")
    assert finding["message"].startswith(
        f"invoke '{GET_ROLE}' has an unknown result offline (it has no documented placeholder, or an argument is "
        f"unknown until deployment) and the program took it as a plain value with pulumi.runtime.{via},")
    assert finding["source"] == {"file": "__main__.py", "line": line_of(root, "get_role_definition(")}


def test_role_assignment_from_plain_get_role_definition_is_indeterminate_naming_the_function_and_line(tmp_path):
    root = project(tmp_path, ROLE_PROGRAM)
    proc, doc = preview(root, "--policy-pack", POLICIES)
    assert proc.returncode == 1, proc.stderr
    assert doc["errors"] == []
    assert_names_the_function_and_line(the_read(doc), root)
    assert indeterminate(doc) == sorted([(POLICY, "roles-dev"), *ROLE_POLICIES_ON_READER])
    reader = next(r for r in doc["resources"] if r["name"] == "reader")
    assert reader["inputs"]["roleDefinitionId"] == {"$unknown": True}
    assert doc["invokes"] == [{"token": GET_ROLE, "placeholder": False, "count": 1}]


def test_plain_get_role_definition_still_blocks_when_the_plan_is_judged_elsewhere(tmp_path):
    root = project(tmp_path, ROLE_PROGRAM)
    plan = tmp_path / "plan.json"
    planned = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--plan-out", str(plan))
    assert planned.returncode == 0, planned.stderr
    assert json.loads(plan.read_text())["plainReads"] == [{
        "kind": "invoke", "name": GET_ROLE, "via": "invoke",
        "source": {"file": "__main__.py", "line": line_of(root, "get_role_definition(")}}]
    judged = run_crossgate("check", "--plan", str(plan), "--cwd", str(tmp_path), "--policy-pack", POLICIES,
                           "--parallel", "1", "--format", "json")
    assert judged.returncode == 1, judged.stderr
    doc = json.loads(judged.stdout)
    assert_names_the_function_and_line(the_read(doc), root)
    assert indeterminate(doc) == sorted([(POLICY, "roles-dev"), *ROLE_POLICIES_ON_READER])


def test_plain_invoke_read_is_carried_by_sarif_junit_markdown_and_the_table(tmp_path):
    root = project(tmp_path, ROLE_PROGRAM)
    sarif, junit, markdown = tmp_path / "r.sarif", tmp_path / "r.xml", tmp_path / "r.md"
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--policy-pack", POLICIES,
                         "--sarif", str(sarif), "--junit", str(junit), "--markdown", str(markdown))
    assert proc.returncode == 1, proc.stderr
    line = line_of(root, "get_role_definition(")
    assert f"{POLICY}" in proc.stdout and f"invoke '{GET_ROLE}' has an unknown result offline" in proc.stdout

    results = [r for run in json.loads(sarif.read_text())["runs"] for r in run["results"] if r["ruleId"] == POLICY]
    [result] = results
    assert (result["level"], result["properties"]["pack"], result["properties"]["kind"]) == (
        "error", "crossgate", "indeterminate")
    assert result["message"]["text"].startswith(f"Indeterminate: invoke '{GET_ROLE}' has an unknown result offline")
    region = result["locations"][0]["physicalLocation"]
    assert (region["artifactLocation"]["uri"].endswith("__main__.py"), region["region"]["startLine"]) == (True, line)

    cases = [c for c in ET.parse(junit).iter("testcase") if POLICY in (c.get("name") or "")]
    assert len(cases) == 1 and cases[0].find("failure") is not None
    assert f"invoke '{GET_ROLE}'" in markdown.read_text()


def test_typed_invoke_gives_unknown_strings_and_empty_other_values_then_blocks(tmp_path):
    root = project(tmp_path, TYPED_PROGRAM + '''
role = pulumi.runtime.invoke("test:index:getRole", {"name": "Reader"}, typ=GetRoleResult).value
Thing("assignment", {"role": role.id, "permissions": role.permissions, "count": role.count})
Thing("untouched", {"tags": {"owner": "me"}})
''', name="typed")
    proc, doc = preview(root, "--policy-pack", BASIC)
    assert proc.returncode == 1, proc.stderr
    inputs = {r["name"]: r["inputs"] for r in doc["resources"]}
    assert inputs["assignment"] == {"role": {"$unknown": True}}
    assert inputs["untouched"] == {"tags": {"owner": "me"}}
    [read] = [f for f in doc["indeterminate"] if f["pack"] == "crossgate"]
    assert (read["policy"], read["level"], read["source"]) == (
        POLICY, "mandatory", {"file": "__main__.py", "line": line_of(root, "pulumi.runtime.invoke(")})
    assert read["message"].startswith("invoke 'test:index:getRole' has an unknown result offline")


def test_typed_invoke_async_is_named_at_the_line_that_calls_it(tmp_path):
    root = project(tmp_path, TYPED_PROGRAM + '''
role = pulumi.Output.from_input(
    pulumi.runtime.invoke_async("test:index:getRole", {"name": "Reader"}, typ=GetRoleResult))
Thing("assignment", {"role": role.apply(lambda r: r.id)})
''', name="typedasync")
    proc, doc = preview(root)
    assert proc.returncode == 1, proc.stderr
    [read] = doc["indeterminate"]
    assert (read["policy"], read["source"]["line"]) == (POLICY, line_of(root, "pulumi.runtime.invoke_async("))
    assert "with pulumi.runtime.invoke_async," in read["message"]
    assert next(r for r in doc["resources"] if r["name"] == "assignment")["inputs"] == {"role": {"$unknown": True}}


def test_plain_invoke_read_is_advisory_with_unknowns_advisory(tmp_path):
    root = project(tmp_path, ROLE_PROGRAM)
    proc, doc = preview(root, "--unknowns", "advisory")
    assert proc.returncode == 0, proc.stderr
    assert [(f["policy"], f["level"]) for f in doc["indeterminate"]] == [(POLICY, "advisory")]


@pytest.mark.parametrize("entry", [
    {"kind": "cloud", "name": "x", "via": "invoke"},
    {"kind": "invoke", "name": "x"},
])
def test_plan_with_a_malformed_plain_read_is_refused(tmp_path, entry):
    root = project(tmp_path, ROLE_PROGRAM)
    plan = tmp_path / "plan.json"
    assert run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--plan-out", str(plan)).returncode == 0
    doc = json.loads(plan.read_text())
    doc["plainReads"] = [entry]
    plan.write_text(json.dumps(doc))
    judged = run_crossgate("check", "--plan", str(plan), "--cwd", str(tmp_path), "--policy-pack", BASIC)
    assert judged.returncode == 2
    assert f"--plan {plan}: plainReads/0" in judged.stderr


def test_a_plain_read_record_of_a_kind_the_gate_does_not_know_fails_the_run():
    from crossgate.errors import ProgramError
    from crossgate.program.runner import parse_record

    with pytest.raises(ProgramError, match=r"malformed plainRead record \(field 'what'\)"):
        parse_record(b'{"kind":"plainRead","what":"cloud","name":"x","via":"invoke"}')
