"""`crossgate preview --plan-out` + `crossgate check --plan`: the same verdict as `preview`, decided in
another process from a plan that holds no secret, and a plan file read as the untrusted input it is."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import re
import textwrap
import typing
from pathlib import Path

import pytest
from google.protobuf import struct_pb2

from crossgate import plan as plan_module
from crossgate.errors import InputError
from crossgate.model import PlannedResource
from crossgate.project import encrypt_for_tests
from helpers import FIXTURES, REPO, run_crossgate

BASIC = str(FIXTURES / "packs" / "basic")
THINGS = FIXTURES / "programs" / "things"
SKETCH = FIXTURES / "sketch"
NO_PASSPHRASE = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}


def reports(tmp_path: Path, label: str) -> tuple[list[str], dict[str, Path]]:
    files = {fmt: tmp_path / f"{label}.{fmt}" for fmt in ("json", "sarif", "junit", "markdown")}
    return [arg for fmt, path in files.items() for arg in (f"--{fmt}", str(path))], files


def both_ways(tmp_path: Path, cwd: Path, gate_args: list[str], env: dict[str, str] | None = None):
    """Run `preview` with the packs, then `preview --plan-out` and `check --plan` in two more processes."""
    common = ["--parallel", "1"]
    args, direct = reports(tmp_path, "preview")
    preview = run_crossgate("preview", "--cwd", str(cwd), "--stack", "dev", *gate_args, *args, *common, env=env)
    plan_file = tmp_path / "plan.json"
    planned = run_crossgate("preview", "--cwd", str(cwd), "--stack", "dev", "--plan-out", str(plan_file), *common,
                            env=env)
    args, judged = reports(tmp_path, "check")
    check = run_crossgate("check", "--plan", str(plan_file), "--cwd", str(cwd), *gate_args, *args, *common,
                          env=NO_PASSPHRASE)
    return preview, direct, planned, plan_file, check, judged


def normalised(fmt: str, text: str) -> object:
    """A report with what legitimately differs taken out: durations, the origin, and orders that vary
    between any two runs of `preview` itself (the Pulumi SDK collects dependencies in a set; the
    JSON and table reports list remediations in the order the analysis threads finished)."""
    if fmt in ("json", "sarif"):
        doc = json.loads(text)
        if fmt == "json":
            assert doc.pop("origin") in ("preview", "plan")
            doc.pop("durationSeconds", None)
            for r in doc["resources"]:
                r["dependencies"] = sorted(r["dependencies"])
                r["propertyDependencies"] = {k: sorted(v) for k, v in r["propertyDependencies"].items()}
            doc["remediations"].sort(key=lambda r: (r["pack"], r["policy"], r["urn"]))
        return doc
    if fmt == "junit":
        return re.sub(r' time="[0-9.]+"', ' time=""', text)
    if fmt == "markdown":
        return re.sub(r"\b[0-9]+\.[0-9]+ s\b", "N s", text)
    lines = text.splitlines()[1:]  # "Previewing X offline" / "Checking X"
    remediations = sorted(line for line in lines if line.lstrip().startswith("[remediate]"))
    lines = [remediations.pop(0) if line.lstrip().startswith("[remediate]") else line for line in lines]
    return re.sub(r"\b[0-9]+\.[0-9]+s\b", "Ns", "\n".join(lines))


def assert_same_reports(preview, direct, check, judged) -> None:
    assert check.returncode == preview.returncode, check.stderr
    assert normalised("table", check.stdout) == normalised("table", preview.stdout)
    for fmt in direct:
        assert normalised(fmt, judged[fmt].read_text()) == normalised(fmt, direct[fmt].read_text()), fmt


def test_the_reference_stack_gets_the_same_reports_from_its_plan(tmp_path):
    preview, direct, planned, _, check, judged = both_ways(tmp_path, REPO, ["--policy-pack", str(REPO / "policies")])
    assert planned.returncode == 0, planned.stderr
    assert preview.returncode == 0, preview.stderr
    assert_same_reports(preview, direct, check, judged)
    assert json.loads(judged["json"].read_text())["origin"] == "plan"
    assert check.stdout.splitlines()[0] == "Checking the plan of ai-data-platform (stack dev)"


def test_the_sketch_gets_the_same_reports_and_findings_from_its_plan(tmp_path):
    preview, direct, planned, _, check, judged = both_ways(tmp_path, SKETCH, ["--policy-pack", str(REPO / "policies")])
    assert planned.returncode == 0, planned.stderr
    assert preview.returncode == 1, preview.stderr
    assert_same_reports(preview, direct, check, judged)
    expected = json.loads((SKETCH / "expected-findings.json").read_text())["findings"]
    doc = json.loads(judged["json"].read_text())
    assert sorted([f["policy"], f["name"], f["level"]] for f in doc["violations"]) == expected


def test_the_test_program_gets_the_same_reports_with_config_and_waivers(tmp_path):
    config = tmp_path / "basic.json"
    config.write_text(json.dumps({"size-limit": {"maxSize": 11}}))
    expires = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)).isoformat()
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(json.dumps({"waivers": [
        {"policy": "size-limit", "resource": "*::base", "reason": "Tracked in DATA-412.",
         "owner": "data-platform@example.com", "expires": expires}]}))
    gate = ["--policy-pack", BASIC, "--policy-pack-config", str(config), "--waivers", str(waivers)]
    preview, direct, planned, _, check, judged = both_ways(tmp_path, THINGS, gate)
    assert planned.returncode == 0, planned.stderr
    assert preview.returncode == 1
    assert_same_reports(preview, direct, check, judged)
    doc = json.loads(judged["json"].read_text())
    assert [(f["policy"], f["name"]) for f in doc["waived"]] == [("size-limit", "base")]
    assert sorted((f["policy"], f["name"]) for f in doc["violations"]) == [
        ("advisory-note", "noted"), ("no-public-flag", "base"), ("stack-checks", "child")]
    assert [(f["policy"], f["name"]) for f in doc["indeterminate"]] == [("reads-unknown", "child")]


# -- secrets ----------------------------------------------------------------------------------

def secret_program(root: Path, main: str) -> Path:
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: secrets\nruntime: python\n")
    (root / "Pulumi.dev.yaml").write_text(f"encryptionsalt: {salt}\nconfig:\n  secrets:password:\n"
                                          f"    secure: {secure}\n  secrets:plain: visible\n")
    (root / "__main__.py").write_text(textwrap.dedent("""
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props, opts=None):
                super().__init__("test:index:Thing", name, props, opts)

        cfg = pulumi.Config()
    """) + textwrap.dedent(main))
    return root


def test_a_secret_never_reaches_the_plan_and_a_policy_reading_it_is_indeterminate(tmp_path):
    program = secret_program(tmp_path / "p", """
        Thing("t", {"password": cfg.require_secret("password"), "tags": {"a": "b"}})
        named = Thing("t-" + cfg.get("password"), {"copy": cfg.get("password"), "tags": {cfg.get("password"): "k"}})
        Thing("child", {"n": pulumi.Output.secret(4242), "tags": {}}, pulumi.ResourceOptions(parent=named))
        pulumi.log.warn("using " + cfg.get("password"))
    """)
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "correct horse"}
    preview, direct, planned, plan_file, check, judged = both_ways(tmp_path, program, ["--policy-pack", BASIC],
                                                                   env=env)
    # With the passphrase, preview's policy sees the value and blocks on it ...
    assert [(v["policy"], v["name"]) for v in json.loads(direct["json"].read_text())["violations"]
            if v["policy"] == "secret-value"] == [("secret-value", "t")]
    # ... the plan holds no trace of it, nor of the secret number ...
    assert planned.returncode == 0, planned.stderr
    text = plan_file.read_text()
    assert "hunter2" not in text and "4242" not in text
    doc = json.loads(text)
    by_name = {r["name"]: r for r in doc["resources"]}
    assert by_name["t"]["inputs"]["password"] == {plan_module.wire.SIG_KEY: plan_module.wire.SECRET_SIG,
                                                   "value": plan_module.wire.UNKNOWN}
    assert by_name["child"]["inputs"]["n"]["value"] == plan_module.wire.UNKNOWN
    assert by_name["t-[secret]"]["urn"].endswith("::test:index:Thing::t-[secret]")
    assert by_name["t-[secret]"]["inputs"]["copy"] == "[secret]"
    assert by_name["t-[secret]"]["inputs"]["tags"] == {"[secret]": "k"}
    assert by_name["child"]["parent"] == by_name["t-[secret]"]["urn"]
    assert doc["config"]["secrets:password"] == plan_module.wire.UNKNOWN
    assert doc["config"]["secrets:plain"] == "visible"
    assert doc["secretKeys"] == ["secrets:password"]
    assert doc["warnings"] == ["warning: using [secret]"]
    # ... so in `check --plan` the policy that reads it can't decide, and that blocks.
    assert check.returncode == 1, check.stderr
    judged_doc = json.loads(judged["json"].read_text())
    assert [(f["policy"], f["name"], f["level"]) for f in judged_doc["indeterminate"]] == [
        ("secret-value", "t", "mandatory")]
    assert "secret-value" not in [v["policy"] for v in judged_doc["violations"]]
    assert "hunter2" not in check.stdout + check.stderr


# -- the program's exit state -----------------------------------------------------------------

def test_a_plan_whose_program_failed_makes_check_exit_2_with_the_programs_error(tmp_path):
    program = secret_program(tmp_path / "p", """
        Thing("t", {"tags": {}})
        raise RuntimeError("the subnet plan is inconsistent")
    """)
    plan_file = tmp_path / "plan.json"
    planned = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--plan-out", str(plan_file),
                            env=NO_PASSPHRASE)
    assert planned.returncode == 2
    doc = json.loads(plan_file.read_text())
    assert doc["program"]["ok"] is False
    (error,) = doc["program"]["errors"]
    assert "RuntimeError: the subnet plan is inconsistent" in error
    check = run_crossgate("check", "--plan", str(plan_file), "--policy-pack", BASIC, "--format", "json")
    assert check.returncode == 2
    assert json.loads(check.stdout)["errors"] == [error]
    assert f"crossgate: error: {error}" in check.stderr.splitlines()


def test_a_plan_of_another_stack_than_the_judge_expects_is_refused(tmp_path, things_plan):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(things_plan))
    proc = run_crossgate("check", "--plan", str(path), "--stack", "prod", "--policy-pack", BASIC)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"crossgate: error: --plan {path} is the plan of stack dev, not prod"
    proc = run_crossgate("check", "--plan", str(path), "--stack", "dev", "--policy-pack", BASIC, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    proc = run_crossgate("check", "--stack-export", str(FIXTURES / "imports" / "things.stack-export.json"),
                         "--stack", "dev", "--policy-pack", BASIC)
    assert (proc.returncode, proc.stderr.strip()) == (2, "crossgate: error: --stack is only used with --plan")


def test_plan_out_refuses_pack_flags_it_would_ignore(tmp_path):
    proc = run_crossgate("preview", "--cwd", str(THINGS), "--stack", "dev", "--plan-out", str(tmp_path / "p.json"),
                         "--policy-pack", BASIC)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("crossgate: error: --plan-out runs no policy pack, so --policy-pack would be "
                                   "ignored: judge the plan with `crossgate check --plan FILE` and pass them there")
    assert not (tmp_path / "p.json").exists()


# -- the plan is untrusted input --------------------------------------------------------------

@pytest.fixture(scope="module")
def things_plan(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    proc = run_crossgate("preview", "--cwd", str(THINGS), "--stack", "dev", "--plan-out", str(path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(path.read_text())


def check_plan_text(tmp_path: Path, text: str):
    path = tmp_path / "plan.json"
    path.write_text(text)
    proc = run_crossgate("check", "--plan", str(path), "--policy-pack", BASIC, "--format", "json")
    return proc, path


def mutate(things_plan: dict, change) -> str:
    doc = copy.deepcopy(things_plan)
    change(doc)
    return json.dumps(doc)


def thing(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)


def _set(path: list, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = thing(target, key) if isinstance(key, str) and key in ("base", "child", "noted") else target[key]
        target[path[-1]] = value
    return change


def _drop(name: str, key: str):
    return lambda doc: thing(doc, name).pop(key)


def _append_copy(name: str):
    return lambda doc: doc["resources"].append(copy.deepcopy(thing(doc, name)))


def _remove_stack(doc):
    doc["resources"] = [r for r in doc["resources"] if r["type"] != "pulumi:pulumi:Stack"]
    for r in doc["resources"]:
        if r["parent"] and "pulumi:pulumi:Stack" in r["parent"]:
            r["parent"] = None
    doc["rootUrn"] = ""


MALFORMED = [
    ("a-duplicate-urn", _append_copy("base"), "resources/5: duplicate URN urn:pulumi:dev::things::test:index:Thing::base"),
    ("a-resource-without-urn", _drop("child", "urn"), "resources/3: 'urn' is a required property"),
    ("a-resource-without-inputs", _drop("child", "inputs"), "resources/3: 'inputs' is a required property"),
    ("an-unknown-resource-field", _set(["base", "runAsRoot"], True), "resources/2 has unknown field(s) runAsRoot"),
    ("a-wrongly-typed-field", _set(["base", "protect"], "yes"), "resources/2/protect: 'yes' is not of type 'boolean'"),
    ("a-urn-that-disagrees-with-its-name", _set(["base", "name"], "other"),
     "resources/2: type 'test:index:Thing' and name 'other' don't match its URN urn:pulumi:dev::things::test:index:Thing::base"),
    ("a-urn-of-another-stack", _set(["stack"], "prod"),
     "resources/0: urn:pulumi:dev::things::pulumi:pulumi:Stack::things-dev is not in stack prod of project things"),
    ("a-dangling-parent", _set(["child", "parent"], "urn:pulumi:dev::things::test:index:Thing::ghost"),
     "resources/3 (urn:pulumi:dev::things::test:index:Thing$test:index:Thing::child): parent names "
     "urn:pulumi:dev::things::test:index:Thing::ghost, which the plan does not declare"),
    ("a-provider-that-is-not-one", _set(["child", "provider"], "urn:pulumi:dev::things::test:index:Thing::base::x"),
     "resources/3 (urn:pulumi:dev::things::test:index:Thing$test:index:Thing::child): provider "
     "urn:pulumi:dev::things::test:index:Thing::base::x is not a provider resource"),
    ("a-finished-program-without-its-stack", _remove_stack,
     "a finished program declares exactly one pulumi:pulumi:Stack, and rootUrn names it"),
    ("ok-with-errors", _set(["program", "errors"], ["boom"]),
     "program: 'ok' must be true exactly when 'errors' is empty"),
    ("an-unknown-top-level-field", _set(["policies"], []),
     "the document: Additional properties are not allowed ('policies' was unexpected)"),
    ("a-newer-schema-version", _set(["schemaVersion"], "3.0"),
     "plan schemaVersion '3.0' is not supported (this crossgate reads 2.0)"),
    ("an-invoke-count-of-zero", lambda doc: doc["invokes"].append({"token": "a:b:c", "placeholder": False, "count": 0}),
     "invokes/0/count: 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize("change, message", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_plan_is_refused_with_one_line_naming_it(tmp_path, things_plan, change, message):
    proc, path = check_plan_text(tmp_path, mutate(things_plan, change))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"crossgate: error: --plan {path}: {message}"]
    assert json.loads(proc.stdout)["summary"]["verdict"] == "error"


@pytest.mark.parametrize("text, message", [
    ('{"schemaVersion": "1.0", "schemaVersion": "1.0"}', "is not valid JSON: duplicate key 'schemaVersion'"),
    ('{"a": NaN}', "is not valid JSON: NaN is not a JSON number"),
    ('{"resources": [', "is not valid JSON: Expecting value (line 1)"),
    ("[" * 100000 + "]" * 100000, "is nested too deeply"),
    ("[]", "the document: [] is not of type 'object'"),
], ids=["duplicate-key", "nan", "truncated", "nested", "not-an-object"])
def test_a_plan_that_is_not_strict_json_is_refused(tmp_path, text, message):
    proc, path = check_plan_text(tmp_path, text)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0].startswith(f"crossgate: error: --plan {path}")
    assert message in proc.stderr


def test_a_duplicate_key_inside_a_resource_is_refused(tmp_path, things_plan):
    text = json.dumps(things_plan, indent=1).replace('"custom": true,', '"custom": true, "custom": false,', 1)
    proc, path = check_plan_text(tmp_path, text)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"crossgate: error: --plan {path} is not valid JSON: duplicate key 'custom'"


def test_a_plan_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path, things_plan):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(things_plan))
    with pytest.raises(InputError, match=re.escape(f"--plan {path} is larger than the 100 bytes this input may hold")):
        plan_module.load_plan(str(path), limit=100)
    assert plan_module.MAX_PLAN_BYTES == 256 * 1024 * 1024


def test_a_plan_that_is_a_symlink_or_missing_is_refused(tmp_path, things_plan):
    real = tmp_path / "real.json"
    real.write_text(json.dumps(things_plan))
    link = tmp_path / "plan.json"
    link.symlink_to(real)
    proc = run_crossgate("check", "--plan", str(link), "--policy-pack", BASIC)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"crossgate: error: --plan {link} is a symbolic link; pass the file itself"
    proc = run_crossgate("check", "--plan", str(tmp_path / "none.json"), "--policy-pack", BASIC)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"crossgate: error: cannot read --plan {tmp_path / 'none.json'}: No such file or directory"


def test_the_written_plan_validates_against_its_schema(things_plan):
    import jsonschema

    schema = json.loads((REPO / "crossgate" / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(things_plan)
    assert things_plan["schemaVersion"] == plan_module.PLAN_SCHEMA_VERSION


# -- PlannedResource round-trips field by field -----------------------------------------------

def sample(hint, name: str):
    """A non-default value of type ``hint`` (so a field that is not written fails the round trip)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return sample(next(a for a in args if a is not type(None)), name)
    if origin is tuple:
        return (sample(args[0], name), sample(args[0], name + "2"))
    if origin is list:
        return [sample(args[0], name)]
    if origin is not None and issubclass(origin, typing.Mapping) or hint is dict:
        return {f"{name}-key": sample(args[1] if args else str, name)}
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: sample(hints[f.name], f.name) for f in dataclasses.fields(hint)})
    if isinstance(hint, type) and issubclass(hint, __import__("enum").Enum):
        return list(hint)[-1]
    return {bool: True, int: 7, float: 2.5, str: f"{name}-value", typing.Any: f"{name}-any"}[hint]


def test_every_planned_resource_field_round_trips_through_the_plan():
    hints = typing.get_type_hints(PlannedResource)
    values = {}
    for f in dataclasses.fields(PlannedResource):
        if f.name == "properties":
            values[f.name] = struct_pb2.Struct()
            values[f.name].update({"a": [1.0, {"b": "c"}], "pw": plan_module.wire.make_secret(plan_module.wire.UNKNOWN)})
        elif hints[f.name] is not struct_pb2.Struct and struct_pb2.Struct in typing.get_args(hints[f.name]):
            values[f.name] = struct_pb2.Struct()  # another wire value (a provider's inputs)
            values[f.name].update({"region": "westeurope", "pw": plan_module.wire.make_secret(plan_module.wire.UNKNOWN)})
        elif f.name == "has_secrets":
            values[f.name] = True
        else:
            values[f.name] = sample(hints[f.name], f.name)
    resource = PlannedResource(**values)
    doc = json.loads(json.dumps(plan_module.resource_doc(resource)))
    assert "hasSecrets" not in doc and doc["inputs"]["a"] == [1.0, {"b": "c"}]
    assert plan_module._resource(doc, 0, "--plan x") == resource


@dataclasses.dataclass(frozen=True)
class Timeouts:
    create: str = ""
    delete: str = ""


def test_option_fields_added_to_planned_resource_round_trip_without_changes_to_the_plan(monkeypatch, things_plan):
    import jsonschema

    extended = dataclasses.make_dataclass("Extended", [
        ("ignore_changes", tuple[str, ...], dataclasses.field(default=())),
        ("custom_timeouts", typing.Optional[Timeouts], dataclasses.field(default=None)),
        ("delete_before_replace", bool, dataclasses.field(default=False)),
        ("replace_on_changes", frozenset[str], dataclasses.field(default=frozenset())),
        ("import_id", typing.Optional[str], dataclasses.field(default=None)),
    ], bases=(PlannedResource,), frozen=True)
    monkeypatch.setattr(plan_module, "PlannedResource", extended)
    plan_module._resource_hints.cache_clear()
    try:
        props = struct_pb2.Struct()
        props.update({"size": 1.0})
        resource = extended(urn="urn:pulumi:dev::things::test:index:Thing::x", type="test:index:Thing", name="x",
                            custom=True, properties=props, ignore_changes=("size", "tags"),
                            custom_timeouts=Timeouts(create="5m"), delete_before_replace=True,
                            replace_on_changes=frozenset({"b", "a"}), import_id="/subscriptions/0")
        doc = json.loads(json.dumps(plan_module.resource_doc(resource)))
        assert {k: doc[k] for k in ("ignoreChanges", "customTimeouts", "deleteBeforeReplace", "replaceOnChanges",
                                    "importId")} == {
            "ignoreChanges": ["size", "tags"], "customTimeouts": {"create": "5m", "delete": ""},
            "deleteBeforeReplace": True, "replaceOnChanges": ["a", "b"], "importId": "/subscriptions/0"}
        schema = json.loads(plan_module.SCHEMA_FILE.read_text())
        jsonschema.Draft7Validator(schema).validate({**things_plan, "resources": [doc]})
        assert plan_module._resource(doc, 0, "--plan x") == resource
        with pytest.raises(InputError, match=r"^--plan x: resources/0/ignoreChanges must be a list$"):
            plan_module._resource({**doc, "ignoreChanges": "size"}, 0, "--plan x")
    finally:
        plan_module._resource_hints.cache_clear()
