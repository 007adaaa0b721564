"""No failure may ever read as a pass: each way a run can go wrong exits 2 with a one-line error."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from helpers import FIXTURES, run_crossgate

THINGS = FIXTURES / "programs" / "things"
PACKS = FIXTURES / "packs"


def gate(*args: str, cwd: Path = THINGS, stack: str = "dev", timeout: float = 120):
    return run_crossgate("preview", "--cwd", str(cwd), "--stack", stack, *args, "--format", "json",
                         timeout=timeout)


def error_of(proc) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("crossgate: error:")]
    assert lines, proc.stderr
    return lines[0]


@pytest.mark.parametrize("pack, expected", [
    ("exits", "policy pack exits exited with code 1 at start: broken pack: cannot load its policies"),
    ("noport", "policy pack noport printed b'hello, not a port' instead of a port"),
    ("nomanifest", "no PulumiPolicy.yaml"),
    ("badyaml", "PulumiPolicy.yaml is not valid YAML"),
    ("malformed", "malformed reply: a diagnostic names policy 'ghost', which the pack did not declare"),
    ("raises", "policy pack raises: Analyze failed: Exception calling application: policy bug: unexpected shape"),
])
def test_broken_pack_exits_2(pack, expected):
    proc = gate("--policy-pack", str(PACKS / pack))
    assert proc.returncode == 2
    assert expected in error_of(proc)
    if proc.stdout:
        doc = json.loads(proc.stdout)
        assert doc["summary"]["verdict"] == "error"
        assert any(expected in e for e in doc["errors"])


def test_pack_that_hangs_is_bounded_by_timeout():
    proc = gate("--policy-pack", str(PACKS / "hangs"), "--timeout", "3")
    assert proc.returncode == 2
    assert "policy pack hangs: printed no port before the timeout" in error_of(proc)


def test_pack_that_crashes_mid_run(tmp_path):
    program = tmp_path / "crash"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: crash\nruntime: python\n")
    (program / "__main__.py").write_text(textwrap.dedent("""
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name):
                super().__init__("test:index:Thing", name, {})

        Thing("fine")
        Thing("crash")
    """))
    proc = gate("--policy-pack", str(PACKS / "crashes"), "--parallel", "1", cwd=program)
    assert proc.returncode == 2
    assert "policy pack crashes: Analyze crashed" in error_of(proc)


def test_malformed_config_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = gate("--policy-pack", str(PACKS / "basic"), "--policy-pack-config", str(bad))
    assert proc.returncode == 2
    assert error_of(proc) == f"crossgate: error: --policy-pack-config {bad} is not valid JSON: " \
                             "Expecting property name enclosed in double quotes (line 1)"


def test_config_level_typo(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"no-public-flag": "mandtory"}')
    proc = gate("--policy-pack", str(PACKS / "basic"), "--policy-pack-config", str(bad))
    assert proc.returncode == 2
    assert "no-public-flag: 'mandtory' is not an enforcement level" in error_of(proc)


def test_config_count_must_match_pack_count(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text("{}")
    proc = gate("--policy-pack", str(PACKS / "basic"), "--policy-pack", str(PACKS / "second"),
                "--policy-pack-config", str(cfg))
    assert proc.returncode == 2
    assert "1 --policy-pack-config for 2 --policy-pack" in error_of(proc)


def write_program(root: Path, body: str, stack_yaml: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(body))
    if stack_yaml is not None:
        (root / "Pulumi.dev.yaml").write_text(textwrap.dedent(stack_yaml))
    return root


@pytest.mark.parametrize("body, expected", [
    ("raise ValueError('vnetCidr is malformed')\n",
     "the Pulumi program failed: ValueError: vnetCidr is malformed"),
    ("import pulumi\npulumi.log.error('quota exceeded')\n",
     "the Pulumi program failed: the program logged 1 error(s): quota exceeded"),
    ("import pulumi\nref = pulumi.StackReference('acme/network/prod')\n",
     "StackReference 'acme/network/prod' can't be read offline; supply its outputs with --stack-reference-outputs"),
    ("import pulumi\nraise pulumi.RunError('invalid config broken:cidr: bad')\n",
     "the Pulumi program failed: invalid config broken:cidr: bad"),
])
def test_program_errors_exit_2(tmp_path, body, expected):
    program = write_program(tmp_path / "p", body)
    for packs in ([], ["--policy-pack", str(PACKS / "basic")]):
        proc = gate(*packs, cwd=program)
        assert proc.returncode == 2, proc.stdout
        assert expected in error_of(proc)
        assert "Traceback" not in proc.stderr


def test_verbose_shows_the_traceback(tmp_path):
    program = write_program(tmp_path / "p", "def f():\n    raise KeyError('x')\nf()\n")
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--verbose")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "KeyError" in proc.stderr


def test_stack_reference_outputs_from_a_file(tmp_path):
    program = write_program(tmp_path / "p", """
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props):
                super().__init__("test:index:Thing", name, props)

        ref = pulumi.StackReference("acme/network/prod")
        Thing("t", {"subnet": ref.get_output("subnetId")})
    """)
    outputs = tmp_path / "refs.json"
    outputs.write_text(json.dumps({"acme/network/prod": {"subnetId": "/subscriptions/x/subnets/y"}}))
    proc = gate("--stack-reference-outputs", str(outputs), cwd=program)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    thing = next(r for r in doc["resources"] if r["name"] == "t")
    assert thing["inputs"] == {"subnet": "/subscriptions/x/subnets/y"}


def test_esc_environment_is_refused(tmp_path):
    program = write_program(tmp_path / "p", "print('hi')\n", "environment:\n  - acme/prod\n")
    proc = gate(cwd=program)
    assert proc.returncode == 2
    assert "imports ESC environment(s) ['acme/prod']; ESC can't be read offline" in error_of(proc)


def test_missing_pulumi_yaml(tmp_path):
    proc = gate(cwd=tmp_path)
    assert proc.returncode == 2
    assert error_of(proc) == f"crossgate: error: no Pulumi.yaml in {tmp_path}: pass --cwd pointing at a Pulumi project"


def test_invalid_stack_name():
    proc = gate(stack="bad stack!")
    assert proc.returncode == 2
    assert "invalid stack name 'bad stack!'" in error_of(proc)


def test_unreadable_stack_config(tmp_path):
    program = write_program(tmp_path / "p", "print('hi')\n", "config: [unclosed\n")
    proc = gate(cwd=program)
    assert proc.returncode == 2
    assert "Pulumi.dev.yaml is not valid YAML (line 2)" in error_of(proc)


def test_declared_virtualenv_missing(tmp_path):
    program = write_program(tmp_path / "p", "print('hi')\n")
    (program / "Pulumi.yaml").write_text(
        "name: broken\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    proc = gate(cwd=program)
    assert proc.returncode == 2
    assert "Pulumi.yaml declares virtualenv 'venv'" in error_of(proc)
    assert "python3 -m venv venv" in error_of(proc)


def test_no_pack_says_nothing_was_checked():
    proc = run_crossgate("preview", "--cwd", str(THINGS), "--stack", "dev")
    assert proc.returncode == 0
    assert "Note: no policy pack was given: nothing was checked." in proc.stdout


def test_pack_that_exits_after_printing_its_port():
    proc = gate("--policy-pack", str(PACKS / "portexit"), "--timeout", "60")
    assert proc.returncode == 2
    assert "policy pack portexit exited with code 0 after printing its port" in error_of(proc)


def test_a_chatty_pack_does_not_stall(tmp_path):
    program = write_program(tmp_path / "p", """
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props):
                super().__init__("test:index:Thing", name, props)

        for i in range(40):
            Thing(f"t{i}", {"public": i == 7})
    """)
    proc = gate("--policy-pack", str(PACKS / "chatty"), "--parallel", "1", "--timeout", "60", cwd=program)
    assert proc.returncode == 1, proc.stderr
    assert [(v["policy"], v["name"]) for v in json.loads(proc.stdout)["violations"]] == [("chatty", "t7")]


def test_duplicate_urns_fail_as_in_the_engine(tmp_path):
    program = write_program(tmp_path / "p", """
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props):
                super().__init__("test:index:Thing", name, props)

        Thing("a", {})
        Thing("a", {"x": 1})
    """)
    proc = gate(cwd=program)
    assert proc.returncode == 2
    assert "Duplicate resource URN 'urn:pulumi:dev::broken::test:index:Thing::a'" in error_of(proc)


@pytest.mark.parametrize("flag, value", [("--timeout", "nan"), ("--timeout", "0"), ("--parallel", "-1")])
def test_bad_numbers_are_refused(flag, value):
    proc = gate(flag, value)
    assert proc.returncode == 2
    assert f"argument {flag}" in proc.stderr


def test_a_pack_slower_than_the_timeout_is_one_error_naming_the_timeout_and_what_was_left():
    proc = gate("--policy-pack", str(PACKS / "slow"), "--timeout", "8", "--parallel", "1")
    assert proc.returncode == 2
    errors = [l for l in proc.stderr.splitlines() if l.startswith("crossgate: error:")]
    # One line: the calls the gate's own shutdown cuts off are not reported as further errors.
    assert errors == ["crossgate: error: timed out evaluating policies, with 5 of 5 resources not yet evaluated: "
                      "the run's --timeout of 8 s was reached (raise --timeout)"]
    assert json.loads(proc.stdout)["summary"]["verdict"] == "error"
