"""The gate attacked the way a careless or hostile contributor would: each test is a hole that was
open, named by what must hold now. Programs live in ``tests/fixtures/programs/adversarial-*``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from helpers import FIXTURES, run_crossgate

PROGRAMS = FIXTURES / "programs"
BASIC_PACK = FIXTURES / "packs" / "basic"
PASSPHRASE = "crossgate-test-passphrase"  # the secrets fixture's stack, see its Pulumi.dev.yaml
FORMATS = ("table", "json", "sarif", "junit", "markdown")


def preview(program: str, *args: str, env: dict[str, str] | None = None, pack: Path = BASIC_PACK):
    return run_crossgate("preview", "--cwd", str(PROGRAMS / program), "--stack", "dev", "--policy-pack", str(pack),
                         "--parallel", "1", *args, env=env)


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_copied_into_a_resource_type_or_invoke_token_is_printed_in_no_format(fmt):
    proc = preview("adversarial-secret-in-type", "--format", fmt,
                   env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert proc.returncode == 0, proc.stderr
    for leak in ("orders-db-7781", ":eu"):
        assert leak not in proc.stdout and leak not in proc.stderr
    if fmt == "json":
        doc = json.loads(proc.stdout)
        assert sorted(r["type"] for r in doc["resources"] if r["type"].startswith("test:")) == [
            "test:[secret]:Thing", "test:index:[secret]"]
        assert [i["token"] for i in doc["invokes"]] == ["test:index:get[secret]"]
        assert "urn:pulumi:dev::secrets::test:[secret]:Thing::long" in {r["urn"] for r in doc["resources"]}


@pytest.mark.parametrize("program, message", [
    ("adversarial-garbage-record", "the Pulumi program wrote something that is not a record of crossgate's host to "
                                   "its record pipe; the run can't be trusted"),
    ("adversarial-forged-record", "the program's host wrote 3 records before it finished and the gate received 4: "
                                  "something other than the host wrote to its record pipe, or redirected it, so "
                                  "the plan can't be trusted"),
    ("adversarial-fake-interpreter", "the Pulumi program's run wrote a malformed done record (field 'records'); "
                                     "something other than crossgate's host wrote to its record pipe, so the run "
                                     "can't be trusted"),
])
def test_records_the_sdk_did_not_write_fail_the_run_with_one_line_naming_the_program(program, message):
    proc = preview(program, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    # Where the forged record lands among the SDK's registrations is up to the event loop.
    stderr = re.sub(r"resources/\d+", "resources/N", proc.stderr)
    assert stderr.splitlines() == [f"crossgate: error: {message}"]
    assert [re.sub(r"resources/\d+", "resources/N", e) for e in json.loads(proc.stdout)["errors"]] == [message]


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_an_interrupted_preview_leaves_no_pack_and_no_program_running():
    import signal
    import subprocess
    import sys

    from helpers import REPO

    proc = subprocess.Popen([sys.executable, "-m", "crossgate", "preview", "--cwd",
                             str(PROGRAMS / "adversarial-hangs"), "--stack", "dev", "--policy-pack", str(BASIC_PACK),
                             "--parallel", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        packs: set[int] = set()
        while not packs:  # the pack host is up and the program is hanging
            assert proc.poll() is None, proc.communicate()
            packs = {pid for pid in _descendants(proc.pid) if b"_pack_host" in _cmdline(pid)}
        started = set()
        while not started:  # and the program is running
            assert proc.poll() is None, proc.communicate()
            started = _descendants(proc.pid) - packs
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    assert stderr.splitlines() == ["crossgate: interrupted"]
    assert not [pid for pid in packs | started if _alive(pid)]


def test_a_plan_whose_resource_depends_on_a_stack_reference_is_judged_not_refused(tmp_path):
    program = PROGRAMS / "adversarial-stack-reference"
    plan = tmp_path / "plan.json"
    wrote = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--plan-out", str(plan),
                          "--stack-reference-outputs", str(program / "refs.json"))
    assert wrote.returncode == 0, wrote.stderr
    proc = run_crossgate("check", "--plan", str(plan), "--policy-pack", str(BASIC_PACK), "--parallel", "1",
                         "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(v["policy"], v["name"]) for v in doc["violations"]] == [("no-public-flag", "public")]


@pytest.mark.parametrize("program, problem", [
    ("adversarial-config-alias-bomb", "its YAML aliases (*) expand to more than 1,000,000 values"),
    ("adversarial-config-duplicate-key", "duplicate key 'adversarial:public'"),
])
def test_a_stack_config_the_cli_would_refuse_or_that_would_exhaust_memory_is_refused_naming_it(program, problem):
    proc = preview(program, "--timeout", "60")
    path = PROGRAMS / program / "Pulumi.dev.yaml"
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"crossgate: error: {path}") and line.endswith(problem)


def test_a_resource_name_with_a_line_break_cannot_print_a_verdict_line_of_its_own():
    proc = run_crossgate("preview", "--cwd", str(PROGRAMS / "adversarial-forged-verdict"), "--stack", "dev",
                         "--policy-pack", str(BASIC_PACK), "--parallel", "1")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    where = "tests/fixtures/programs/adversarial-forged-verdict/__main__.py:11"
    assert [line for line in lines if "PASS" in line] == [
        f"    test:index:Thing       public\\nPASS: 0 blocking (exit 0)  {where}",
        f"  test:index:Thing (public\\nPASS: 0 blocking (exit 0))  {where}",
    ]
    assert lines[-1].startswith("FAIL: 1 blocking")



def test_a_stack_export_whose_type_disagrees_with_its_urn_is_refused_not_judged_as_another_type(tmp_path):
    doc = json.loads((FIXTURES / "imports" / "things.stack-export.json").read_text())
    urn = "urn:pulumi:dev::things::test:index:Thing::base"
    state = next(r for r in doc["deployment"]["resources"] if r["urn"] == urn)
    state["type"] = "test:index:Harmless"  # the Thing policies would no longer look at it
    export = tmp_path / "export.json"
    export.write_text(json.dumps(doc))
    proc = run_crossgate("check", "--stack-export", str(export), "--policy-pack", str(BASIC_PACK), "--parallel", "1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"crossgate: error: --stack-export {export}: resource {urn}: type 'test:index:Harmless' is not the type "
        "its URN names"]


def test_a_waiver_glob_for_one_name_does_not_cover_a_new_resource_whose_name_ends_like_it(tmp_path):
    import datetime as dt

    expires = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)).isoformat()
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(f"""waivers:
  - policy: size-limit
    resource: "*::store"
    reason: The store is big on purpose; tracked in DATA-1.
    owner: data-platform@example.com
    expires: {expires}
""")
    proc = preview("adversarial-waiver-name", "--waivers", str(waivers), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(v["policy"], v["name"]) for v in doc["violations"]] == [("size-limit", "new::store")]
    assert [(w["policy"], w["name"]) for w in doc["waived"]] == [("size-limit", "store")]
