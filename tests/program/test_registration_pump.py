"""The program host completes registrations while a large program body runs (issue 14).

The SDK only schedules registrations while the body runs; the host turns the event loop every
``PUMP_EVERY`` (256) resources, so that they finish and are freed as the program goes instead of all
being alive when the body returns (890 MB at 10,000 resources before). What the gate reports must
not change: the same resources, in the program's order, with the same inputs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from helpers import run_crossgate

#: ``_host.PUMP_EVERY``; ``_host`` can't be imported outside the host (it reads its options on import).
PUMP_EVERY = 256


THING = """
import pulumi

class Thing(pulumi.CustomResource):
    def __init__(self, name, props, opts=None):
        super().__init__("test:index:Thing", name, props, opts)
"""


def program(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "pump"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: pump\nruntime: python\n")
    (root / "__main__.py").write_text(THING + textwrap.dedent(body))
    return root


def gate(root: Path):
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json")
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else {}


def by_name(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)


def test_registrations_complete_while_a_large_program_body_runs(tmp_path: Path) -> None:
    root = program(tmp_path, f"""
        resolved = []
        first = Thing("thing-0", {{"size": 0}})
        first.urn.apply(resolved.append)
        for i in range(1, {PUMP_EVERY + 10}):
            Thing(f"thing-{{i}}", {{"size": i}})
        if not resolved:
            raise RuntimeError("no registration completed while the program body ran")
        """)
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    things = [r for r in doc["resources"] if r["type"] == "test:index:Thing"]
    assert [r["name"] for r in things] == [f"thing-{i}" for i in range(PUMP_EVERY + 10)]
    assert [r["inputs"] for r in things] == [{"size": i} for i in range(PUMP_EVERY + 10)]


def test_resources_created_in_applies_during_a_pump_are_all_reported(tmp_path: Path) -> None:
    root = program(tmp_path, f"""
        parents = [Thing(f"parent-{{i}}", {{"size": i}}) for i in range({2 * PUMP_EVERY})]
        for parent in parents[::64]:
            parent.urn.apply(lambda urn, name=parent._name: Thing(name + "-child", {{"of": urn}}))
        """)
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    children = sorted(r["name"] for r in doc["resources"] if r["name"].endswith("-child"))
    assert children == sorted(f"parent-{i}-child" for i in range(0, 2 * PUMP_EVERY, 64))
    assert by_name(doc, "parent-64-child")["inputs"] == {"of": by_name(doc, "parent-64")["urn"]}
