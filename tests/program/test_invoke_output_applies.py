"""An ``Output.apply`` callback on an invoke's ``*_output`` result that is unknown offline never runs,
though a real preview (which gets the function's answer) runs it: whatever it registers would be
deployed unjudged, so it blocks, naming the function and the apply's line. An apply on a resource's
unknown output is only reported (a real preview doesn't run it either), and an invoke result used as
an input, the recommended form, doesn't block by itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from helpers import FIXTURES, REPO, run_crossgate

BASIC = str(FIXTURES / "packs" / "basic")
POLICY = "invoke-result-read-as-plain-value"
GET_ROLE = "azure-native:authorization:getRoleDefinition"

HEADER = '''
import pulumi
from pulumi_azure_native import authorization, storage

scope = "/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/rg"
role = authorization.get_role_definition_output(role_definition_id="acdd72a7-3385-48ef-bd42-f606fba81ae7", scope=scope)


def leaky(_):
    return storage.StorageAccount("leaky", resource_group_name="rg", kind="StorageV2", sku={"name": "Standard_LRS"},
                                  public_network_access="Enabled")
'''

#: Ways a program reaches an apply from the invoke's result; the line marked APPLY is the one named.
DERIVED = {
    "attribute": "role.role_name.apply(leaky)  # APPLY",
    "all": "pulumi.Output.all(role.id, 'x').apply(leaky)  # APPLY",
    "concat": "pulumi.Output.concat('role:', role.role_name).apply(leaky)  # APPLY",
    "container": "pulumi.Output.from_input({'ids': [role.id]}).apply(leaky)  # APPLY",
    "returned by a callback": ("pulumi.Output.from_input('known').apply(lambda _: role).apply(leaky)  # APPLY"),
    "format": "pulumi.Output.format('{0}', role.id).apply(leaky)  # APPLY",
    "json_dumps": "pulumi.Output.json_dumps({'role': role.id}).apply(leaky)  # APPLY",
    "secret": "pulumi.Output.unsecret(pulumi.Output.secret(role.id)).apply(leaky)  # APPLY",
    "recover": "role.id.recover(lambda exc: 'none').apply(leaky)  # APPLY",
}


def project(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "roles"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: roles\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(body))
    return root


def apply_line(root: Path) -> int:
    return next(i for i, line in enumerate((root / "__main__.py").read_text().splitlines(), 1) if "# APPLY" in line)


def preview(root: Path, *extra: str) -> tuple[int, dict]:
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json",
                         "--policy-pack", BASIC, *extra)
    return proc.returncode, json.loads(proc.stdout)


def own_findings(doc: dict) -> list[tuple[str, str, int]]:
    return [(f["policy"], f["level"], f["source"]["line"]) for f in doc["indeterminate"] if f["pack"] == "crossgate"]


@pytest.mark.parametrize("how", sorted(DERIVED))
def test_apply_on_an_unknown_invoke_output_that_would_register_a_resource_blocks_at_the_apply(tmp_path, how):
    root = project(tmp_path, HEADER + DERIVED[how] + "\n")
    code, doc = preview(root)
    assert code == 1
    assert own_findings(doc) == [(POLICY, "mandatory", apply_line(root))]
    [finding] = [f for f in doc["indeterminate"] if f["pack"] == "crossgate"]
    assert finding["message"].startswith(
        f"invoke '{GET_ROLE}' has an unknown result offline (it has no documented placeholder, or an argument is "
        "unknown until deployment), so an Output.apply callback on it did not run; a real preview gets the "
        "function's answer and runs it")
    assert "leaky" not in {r["name"] for r in doc["resources"]}


def test_apply_on_an_unknown_invoke_output_still_blocks_when_the_plan_is_judged_elsewhere(tmp_path):
    root = project(tmp_path, HEADER + DERIVED["attribute"] + "\n")
    plan = tmp_path / "plan.json"
    planned = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--plan-out", str(plan))
    assert planned.returncode == 0, planned.stderr
    assert json.loads(plan.read_text())["plainReads"] == [{
        "kind": "invoke", "name": GET_ROLE, "via": "apply", "source": {"file": "__main__.py", "line": apply_line(root)}}]
    judged = run_crossgate("check", "--plan", str(plan), "--cwd", str(tmp_path), "--policy-pack", BASIC,
                           "--parallel", "1", "--format", "json")
    assert judged.returncode == 1, judged.stderr
    assert own_findings(json.loads(judged.stdout)) == [(POLICY, "mandatory", apply_line(root))]


def test_invoke_output_used_as_an_input_without_an_apply_does_not_block_by_itself(tmp_path):
    root = project(tmp_path, HEADER + '''
authorization.RoleAssignment("reader", principal_id="00000000-0000-0000-0000-000000000009",
                             principal_type="ServicePrincipal", role_definition_id=role.id, scope=scope)
''')
    code, doc = preview(root)
    assert (code, own_findings(doc), doc["errors"]) == (0, [], [])


def test_apply_on_a_resource_output_unknown_in_a_real_preview_too_is_reported_not_blocked(tmp_path):
    root = project(tmp_path, HEADER + '''
account = storage.StorageAccount("data", resource_group_name="rg", kind="StorageV2", sku={"name": "Standard_LRS"})
account.id.apply(leaky)  # APPLY
''')
    code, doc = preview(root)
    assert (code, own_findings(doc)) == (0, [])
    assert [w for w in doc["warnings"] if "apply callback(s) did not run" in w] == [
        "1 apply callback(s) did not run because their input is unknown until deployment, as in `pulumi preview`; "
        f"resources they would create are not in the plan: __main__.py:{apply_line(root)}"]


def test_a_value_taken_from_an_unknown_invoke_output_in_an_apply_blocks_but_attribute_access_does_not(tmp_path):
    """The callback can't be told apart from one that registers resources without running it, so it
    blocks; attribute and item access (``role.id``, ``role["id"]``) run no program code and don't."""
    root = project(tmp_path, HEADER + '''
authorization.RoleAssignment("reader", principal_id="00000000-0000-0000-0000-000000000009",
                             principal_type="ServicePrincipal", role_definition_id=role.apply(lambda r: r.id),  # APPLY
                             scope=role.id)
''')
    code, doc = preview(root)
    assert (code, own_findings(doc)) == (1, [(POLICY, "mandatory", apply_line(root))])


def test_a_callback_returning_a_self_referencing_structure_is_looked_at_once(tmp_path):
    root = project(tmp_path, HEADER + '''
def tangled(_):
    loop = []
    loop.extend([loop] * 64)
    return loop

pulumi.Output.from_input("known").apply(tangled)
''')
    code, doc = preview(root, "--timeout", "120")
    assert (code, own_findings(doc), doc["errors"]) == (0, [], [])
