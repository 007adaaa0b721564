"""A program that leaves work behind when its body returns fails the run (exit 2, one line): under
`pulumi up` that work would still register resources while the gate's plan, already complete, never
shows them (red-team reproducers, tests/fixtures/programs/leftover-*)."""

from __future__ import annotations

import json

import pytest

from helpers import FIXTURES, run_crossgate

PROGRAMS = FIXTURES / "programs"
BASIC = FIXTURES / "packs" / "basic"
FAILED = "the Pulumi program failed: "
WHY = "what they would register during a deployment is not in the plan"
REPLACED = ("the program replaced the Pulumi runtime's monitor or left preview mode; resources it registered "
            "after that are not in the plan")


def gate(name: str):
    proc = run_crossgate("preview", "--cwd", str(PROGRAMS / name), "--stack", "dev", "--parallel", "1",
                         "--format", "json", "--policy-pack", str(BASIC))
    return proc, json.loads(proc.stdout)


@pytest.mark.parametrize("name, expected", [
    ("leftover-loopcb", f"the program left 1 task(s)/callback(s) scheduled when it finished; {WHY}"),
    ("leftover-looptask", f"the program left 2 task(s)/callback(s) scheduled when it finished; {WHY}"),
    ("leftover-threadsoon", f"the program left thread(s) later running when it finished; {WHY}"),
    ("leftover-thread", "program thread later raised RuntimeError: There is no current event loop in thread 'later'."),
    ("leftover-setmocks", REPLACED),
    ("leftover-settingsmon", REPLACED),
    ("leftover-atexit", "the program registered 1 atexit handler(s), which would run after the plan is complete; "
                        "what they would register is not in the plan"),
])
def test_program_leaving_work_behind_exits_2_naming_it(name, expected):
    proc, doc = gate(name)
    assert proc.returncode == 2, proc.stderr
    assert doc["errors"] == [FAILED + expected]
    assert proc.stderr.strip().splitlines()[-1] == f"crossgate: error: {FAILED}{expected}"


@pytest.mark.parametrize("name, resources", [
    ("leftover-ok-thread", {"a", "b"}),
    ("leftover-ok-asyncio", {"now", "later"}),
])
def test_thread_joined_and_asyncio_work_awaited_still_pass(name, resources):
    proc, doc = gate(name)
    assert proc.returncode == 0, proc.stderr
    assert doc["errors"] == []
    assert {r["name"] for r in doc["resources"] if r["type"] == "test:index:Thing"} == resources


def test_records_the_gate_never_received_fail_the_run():
    """The host counts the records it writes; a program that points the record pipe elsewhere while a
    resource registers (so the plan would lack it) fails the run instead of passing without it."""
    proc, doc = gate("hidden-records")
    assert proc.returncode == 2, proc.stderr
    assert len(doc["errors"]) == 1
    assert doc["errors"][0].startswith("the program's host wrote ")
    assert doc["errors"][0].endswith(": something other than the host wrote to its record pipe, or redirected "
                                     "it, so the plan can't be trusted")
    assert "hidden" not in {r["name"] for r in doc["resources"]}
