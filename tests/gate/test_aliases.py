"""Aliases reach packs as the engine sends them (issue 10, item 9).

The engine hands a pack ``options.aliases`` from the resource's new state, which holds only the alias
that matched a resource of the stack's existing state (``getOldResource`` in pulumi/pulumi's
``step_generator.go``). A preview from scratch has no state, so the aliases a program declares never
reach packs: pulumi-policy's own ``resource_options`` integration test pins ``aliases=[]`` for a
resource declared with ``aliases: [{name: "old-name-for-aliased"}]``. Where state is at hand (a stack
export, ``pulumi preview --json``), the alias it recorded is what packs get.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import pytest

from helpers import FIXTURES, run_crossgate

ALIASES = str(FIXTURES / "packs" / "aliases")
EXPORT = FIXTURES / "imports" / "things.stack-export.json"
PREVIEW = FIXTURES / "imports" / "things.preview.json"
BASE_URN = "urn:pulumi:dev::things::test:index:Thing::base"
OLD_URN = "urn:pulumi:dev::things::test:index:Thing::old-base"

#: One resource per way a Python program declares an alias, plus the ~25 type aliases azure-native
#: attaches to every resource, and a child whose parent is aliased (which the engine multiplies out
#: only when the parent matched existing state).
PROGRAM = '''
import pulumi
import pulumi_azure_native as azure_native


class Thing(pulumi.CustomResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Thing", name, {"size": 1}, opts)


class Box(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Box", name, None, opts)


Thing("by-urn", pulumi.ResourceOptions(aliases=["urn:pulumi:dev::aliased::test:index:Thing::old-by-urn"]))
Thing("by-name", pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-by-name")]))
Thing("by-type", pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="test:index/v1:Thing")]))
azure_native.resources.ResourceGroup("rg", location="westeurope")
box = Box("box", pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-box")]))
Thing("box-child", pulumi.ResourceOptions(parent=box, aliases=[pulumi.Alias(name="old-box-child")]))
'''


def _program(tmp_path: Path) -> Path:
    root = tmp_path / "aliased"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: aliased\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    return root


def _seen(doc: dict) -> list[tuple[str, str]]:
    """(policy, message) of every finding: what the pack read in ``options.aliases``."""
    return sorted((f["policy"], f["message"]) for f in doc["violations"])


def _json(proc) -> dict:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def _expected(*pairs: tuple[str, list[str]]) -> list[tuple[str, str]]:
    return sorted((policy, f"{name} aliases {json.dumps(urns)}")
                  for name, urns in pairs for policy in ("resource-aliases", "stack-aliases"))


def test_a_program_s_own_aliases_reach_packs_empty_as_in_a_preview_from_scratch(tmp_path):
    root = _program(tmp_path)
    plan = tmp_path / "plan.json"
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json",
                         "--policy-pack", ALIASES)
    doc = _json(proc)
    assert proc.returncode == 0, proc.stderr
    expected = _expected(*((name, []) for name in ("by-urn", "by-name", "by-type", "rg", "box", "box-child")))
    assert _seen(doc) == expected
    # The plan carries the same (no aliases), so the judge hands packs the same.
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--plan-out", str(plan))
    assert proc.returncode == 0, proc.stderr
    written = json.loads(plan.read_text())
    assert {r["name"]: r["aliases"] for r in written["resources"] if r["name"] in ("by-urn", "rg", "box-child")} \
        == {"by-urn": [], "rg": [], "box-child": []}
    judged = run_crossgate("check", "--plan", str(plan), "--policy-pack", ALIASES, "--format", "json")
    assert judged.returncode == 0, judged.stderr
    assert _seen(_json(judged)) == expected


@pytest.mark.parametrize(("alias", "message"), [
    ('"old-name"', 'invalid alias URN "old-name" of resource \'renamed\' (test:index:Thing): not a URN'),
    ('pulumi.Alias(parent="old-parent")',
     'invalid parent alias URN "old-parent" of resource \'renamed\' (test:index:Thing): not a URN'),
])
def test_a_malformed_alias_urn_fails_the_run_naming_it_as_the_engine_refuses_it(tmp_path, alias, message):
    root = tmp_path / "badalias"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: badalias\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(f'''
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, opts=None):
                super().__init__("test:index:Thing", name, {{}}, opts)

        Thing("renamed", pulumi.ResourceOptions(aliases=[{alias}]))
    '''))
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json")
    assert proc.returncode == 2
    [error] = _json(proc)["errors"]
    assert message in error, error


def _variant(tmp_path: Path, source: Path, change) -> str:
    doc = json.loads(source.read_text())
    change(doc)
    path = tmp_path / source.name
    path.write_text(json.dumps(doc))
    return str(path)


def _things_expected(base: list[str]) -> list[tuple[str, str]]:
    return _expected(("base", base), ("child", []))


def _export_aliased(doc):
    next(r for r in doc["deployment"]["resources"] if r["urn"] == BASE_URN)["aliases"] = [OLD_URN]


def _preview_aliased(doc):
    next(s for s in doc["steps"] if s["urn"] == BASE_URN)["newState"]["aliases"] = [OLD_URN]


@pytest.mark.parametrize(("flag", "source", "aliased"), [
    ("--stack-export", EXPORT, _export_aliased),
    ("--preview-json", PREVIEW, _preview_aliased),
], ids=["a-stack-export-s-recorded-alias", "a-preview-json-step-s-matched-alias"])
def test_an_alias_the_state_records_reaches_packs(tmp_path, flag, source, aliased):
    proc = run_crossgate("check", flag, _variant(tmp_path, source, aliased),
                         "--policy-pack", ALIASES, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert _seen(_json(proc)) == _things_expected([OLD_URN])


def test_a_stack_export_alias_that_is_not_a_urn_exits_2_naming_the_resource(tmp_path):
    def aliased(doc):
        next(r for r in doc["deployment"]["resources"] if r["urn"] == BASE_URN)["aliases"] = ["old-base"]
    path = _variant(tmp_path, EXPORT, aliased)
    proc = run_crossgate("check", "--stack-export", path, "--policy-pack", ALIASES, "--format", "json")
    assert proc.returncode == 2
    assert _json(proc)["errors"] == [f"--stack-export {path}: resource {BASE_URN}: 'aliases' must hold URNs"]


def _plan_of_things(tmp_path: Path) -> dict:
    plan = tmp_path / "things.plan.json"
    proc = run_crossgate("preview", "--cwd", str(FIXTURES / "programs" / "things"), "--stack", "dev",
                         "--parallel", "1", "--plan-out", str(plan))
    assert plan.exists(), proc.stderr
    return json.loads(plan.read_text())


def test_a_plan_s_aliases_reach_packs_in_check_plan(tmp_path):
    doc = _plan_of_things(tmp_path)
    base = next(r for r in doc["resources"] if r["urn"] == BASE_URN)
    base["aliases"] = [OLD_URN]
    path = tmp_path / "aliased.plan.json"
    path.write_text(json.dumps(doc))
    proc = run_crossgate("check", "--plan", str(path), "--policy-pack", ALIASES, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [m for p, m in _seen(_json(proc)) if p == "resource-aliases" and m.startswith("base ")] \
        == [f"base aliases {json.dumps([OLD_URN])}"]


def test_a_plan_alias_that_is_not_a_urn_exits_2_naming_the_field(tmp_path):
    doc = _plan_of_things(tmp_path)
    index, base = next((i, r) for i, r in enumerate(doc["resources"]) if r["urn"] == BASE_URN)
    base["aliases"] = ["old-base"]
    path = tmp_path / "bad.plan.json"
    path.write_text(json.dumps(copy.deepcopy(doc)))
    proc = run_crossgate("check", "--plan", str(path), "--policy-pack", ALIASES, "--format", "json")
    assert proc.returncode == 2
    [error] = _json(proc)["errors"]
    assert error.startswith(f"--plan {path}: resources/{index}/aliases/0: 'old-base' does not match"), error
