"""Pulumi features the gate runs as the engine does, reports, or refuses (issue 10)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest

from crossgate.project import encrypt_for_tests
from helpers import FIXTURES, REPO, run_crossgate

SCHEMA = json.loads((REPO / "crossgate" / "schemas" / "result.schema.json").read_text())
BASIC = str(FIXTURES / "packs" / "basic")
THING = '''
import pulumi

class Thing(pulumi.CustomResource):
    def __init__(self, name, props, opts=None):
        super().__init__("test:index:Thing", name, props, opts)

class Box(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("test:index:Box", name, None, opts)
'''


def program(tmp_path: Path, body: str, *, name: str = "feature", stack_yaml: str = "") -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    if stack_yaml:
        (root / "Pulumi.dev.yaml").write_text(stack_yaml)
    (root / "__main__.py").write_text(THING + textwrap.dedent(body))
    return root


def gate(root: Path, *extra: str, env: dict[str, str] | None = None):
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json",
                         *extra, env=env)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    if doc:
        jsonschema.validate(doc, SCHEMA)
    return proc, doc


def line_of(root: Path, text: str) -> int:
    return next(i for i, line in enumerate((root / "__main__.py").read_text().splitlines(), 1) if text in line)


def by_name(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)


def findings(doc: dict, kind: str = "violations") -> list[tuple[str, str]]:
    return sorted((f["policy"], f["name"]) for f in doc[kind])


# -- 1. new-style transforms ------------------------------------------------------------------

def test_resource_transform_that_makes_a_thing_public_is_judged_public(tmp_path):
    root = program(tmp_path, '''
        def make_public(args):
            return pulumi.ResourceTransformResult({**args.props, "public": True}, args.opts)

        Thing("quiet", {"public": False, "tags": {}}, pulumi.ResourceOptions(transforms=[make_public]))
    ''')
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert proc.returncode == 1, proc.stderr
    assert by_name(doc, "quiet")["inputs"]["public"] is True
    assert ("no-public-flag", "quiet") in findings(doc)
    # The source still points at the line that declared the resource, not at the transform.
    assert by_name(doc, "quiet")["source"] == {"file": "__main__.py", "line": line_of(root, 'Thing("quiet"')}


def test_stack_transform_registered_with_register_resource_transform_is_judged(tmp_path):
    root = program(tmp_path, '''
        def make_public(args):
            if args.type_ == "test:index:Thing":
                return pulumi.ResourceTransformResult({**args.props, "public": True}, args.opts)
            return None

        pulumi.runtime.register_resource_transform(make_public)
        Thing("quiet", {"public": False, "tags": {}})
    ''')
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert proc.returncode == 1, proc.stderr
    assert ("no-public-flag", "quiet") in findings(doc)


def test_transforms_run_own_then_parents_nearest_first_then_stack_in_registration_order(tmp_path):
    root = program(tmp_path, '''
        def mark(label):
            def transform(args):
                if args.type_ != "test:index:Thing":
                    return None
                return pulumi.ResourceTransformResult({**args.props, "trail": [*args.props["trail"], label]},
                                                      args.opts)
            return transform

        pulumi.runtime.register_resource_transform(mark("stack-1"))
        outer = Box("outer", pulumi.ResourceOptions(transforms=[mark("grandparent")]))
        inner = Box("inner", pulumi.ResourceOptions(parent=outer, transforms=[mark("parent")]))
        pulumi.runtime.register_resource_transform(mark("stack-2"))
        Thing("leaf", {"trail": []}, pulumi.ResourceOptions(parent=inner, transforms=[mark("own-1"), mark("own-2")]))
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    assert by_name(doc, "leaf")["inputs"]["trail"] == ["own-1", "own-2", "parent", "grandparent", "stack-1", "stack-2"]


def test_transformed_options_reach_the_packs(tmp_path):
    root = program(tmp_path, '''
        class Resource(pulumi.CustomResource):
            def __init__(self, name, opts=None):
                super().__init__("simple:index:Resource", name, {"value": True}, opts)

        def protect(args):
            args.opts.protect = True
            args.opts.ignore_changes = ["value"]
            return pulumi.ResourceTransformResult(args.props, args.opts)

        Resource("protected", pulumi.ResourceOptions(transforms=[protect]))
        Resource("ignoreChanges", pulumi.ResourceOptions(transforms=[protect]))
    ''')
    proc, doc = gate(root, "--policy-pack", str(FIXTURES / "packs" / "resource-metadata"))
    assert proc.returncode == 0, proc.stderr
    assert findings(doc) == [("ignore-changes", "ignoreChanges"), ("protect", "protected")]


def test_secrets_stay_secret_through_transforms(tmp_path):
    root = program(tmp_path, '''
        async def passthrough(args):
            return pulumi.ResourceTransformResult(dict(args.props), args.opts)

        pulumi.runtime.register_resource_transform(passthrough)
        base = Thing("base", {})
        Thing("t", {"password": pulumi.Output.secret("hunter2XYZ"), "target": base.id})
    ''')
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert "hunter2XYZ" not in proc.stdout + proc.stderr
    assert by_name(doc, "t")["inputs"] == {"password": {"$secret": True}, "target": {"$unknown": True}}
    assert by_name(doc, "t")["propertyDependencies"]["target"] == [by_name(doc, "base")["urn"]]


def test_invoke_transforms_run_on_every_invoke(tmp_path):
    root = program(tmp_path, '''
        def seen(args):
            pulumi.log.warn(f"invoke transform saw {args.token}")
            return None

        pulumi.runtime.register_invoke_transform(seen)
        pulumi.runtime.invoke_output("azure-native:authorization:getClientConfig", {})
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    assert "warning: invoke transform saw azure-native:authorization:getClientConfig" in doc["warnings"]


def test_a_transform_that_raises_fails_the_run_as_in_the_engine(tmp_path):
    root = program(tmp_path, '''
        def broken(args):
            raise ValueError("no such tier")

        Thing("t", {}, pulumi.ResourceOptions(transforms=[broken]))
    ''')
    proc, _ = gate(root)
    assert proc.returncode == 2
    assert "no such tier" in proc.stderr


# -- 2. remote components ---------------------------------------------------------------------

REMOTE = '''
    class Cluster(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("eks:index:Cluster", name, {"size": 3}, opts, remote=True)

    Cluster("main")
    Thing("local", {"tags": {}})
'''


def test_remote_component_is_refused_naming_it_its_type_and_package(tmp_path):
    proc, doc = gate(program(tmp_path, REMOTE), "--policy-pack", BASIC)
    assert proc.returncode == 2
    assert doc["errors"] == [
        "the Pulumi program failed: OfflineError: remote component 'main' (eks:index:Cluster, package eks) is "
        "constructed by its provider at deployment, so the resources it creates can't be seen offline; accept "
        "it with --allow-remote-component eks:index:Cluster to gate the rest of the program without them"]


def test_accepted_remote_component_is_gated_without_its_children_and_reported(tmp_path):
    root = program(tmp_path, REMOTE)
    proc, doc = gate(root, "--policy-pack", BASIC, "--allow-remote-component", "eks:index:Cluster")
    assert proc.returncode == 0, proc.stderr
    assert by_name(doc, "main")["urn"] == "urn:pulumi:dev::feature::eks:index:Cluster::main"
    line = line_of(root, 'Cluster("main")')
    assert doc["warnings"] == [
        f"remote component urn:pulumi:dev::feature::eks:index:Cluster::main (__main__.py:{line}) "
        "accepted by --allow-remote-component eks:index:Cluster: the resources its provider (eks) creates at "
        "deployment are not in the plan"]


# -- 3. invokes without a placeholder ---------------------------------------------------------

def test_invoke_without_placeholder_is_unknown_and_blocks_the_mandatory_policy_that_reads_it(tmp_path):
    root = program(tmp_path, '''
        role = pulumi.runtime.invoke_output("test:index:getRole", {"name": "Reader"})
        Thing("assignment", {"target": role["id"], "tags": {}})
    ''')
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert proc.returncode == 1, proc.stderr
    assert by_name(doc, "assignment")["inputs"]["target"] == {"$unknown": True}
    assert findings(doc, "indeterminate") == [("reads-unknown", "assignment")]
    assert doc["invokes"] == [{"token": "test:index:getRole", "placeholder": False, "count": 1}]


@pytest.mark.parametrize("body", [
    '''
        role = pulumi.runtime.invoke("test:index:getRole", {"name": "Reader"}).value
        Thing("assignment", {"target": role["id"]})
    ''',
    '''
        role = pulumi.Output.from_input(pulumi.runtime.invoke_async("test:index:getRole", {"name": "Reader"}))
        Thing("assignment", {"target": role.apply(lambda r: r["id"])})
    ''',
], ids=["invoke", "invoke_async"])
def test_untyped_plain_invoke_without_placeholder_is_indeterminate_naming_the_function(tmp_path, body):
    """An untyped answer (a plain dict) reads as unknown under every key: the value a resource takes
    from it is unknown to the packs, and the run blocks with crossgate's own finding."""
    root = program(tmp_path, body)
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert proc.returncode == 1, proc.stderr
    assert doc["errors"] == []
    assert by_name(doc, "assignment")["inputs"]["target"] == {"$unknown": True}
    assert findings(doc, "indeterminate") == [
        ("invoke-result-read-as-plain-value", "feature-dev"), ("reads-unknown", "assignment")]


def test_placeholder_invokes_still_answer_with_their_documented_values(tmp_path):
    root = program(tmp_path, '''
        config = pulumi.runtime.invoke("azure-native:authorization:getClientConfig", {}).value
        Thing("t", {"tenant": config["tenantId"]})
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    assert by_name(doc, "t")["inputs"]["tenant"] == "00000000-0000-0000-0000-000000000004"


def test_resource_method_call_is_unknown_offline_and_listed(tmp_path):
    root = program(tmp_path, '''
        base = Thing("base", {})
        key = pulumi.runtime.call("test:index:Thing/listKeys", {"__self__": base}, base)
        Thing("user", {"target": key.apply(lambda k: k["primary"])})
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    assert by_name(doc, "user")["inputs"]["target"] == {"$unknown": True}
    assert doc["invokes"] == [{"token": "test:index:Thing/listKeys", "placeholder": False, "count": 1}]


# -- 4. secure config read with a plain getter ------------------------------------------------

def secure_stack(key: str = "feature:password") -> str:
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    return f"encryptionsalt: {salt}\nconfig:\n  {key}:\n    secure: {secure}\n"


def no_passphrase() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}


def test_plain_getter_on_undecrypted_secure_config_blocks_naming_the_key(tmp_path):
    root = program(tmp_path, '''
        cfg = pulumi.Config()
        if cfg.get("password") == "letmein":
            Thing("weak", {"public": True})
        Thing("t", {"tags": {}})
    ''', stack_yaml=secure_stack())
    proc, doc = gate(root, env=no_passphrase())
    assert proc.returncode == 1, proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
    [finding] = doc["indeterminate"]
    assert (finding["pack"], finding["policy"], finding["level"], finding["type"]) == (
        "crossgate", "secure-config-read-as-plain-value", "mandatory", "pulumi:pulumi:Stack")
    assert finding["message"].startswith("secure config 'feature:password' could not be decrypted (no passphrase) "
                                         "and the program read it with Config.get,")
    assert finding["source"] == {"file": "__main__.py", "line": line_of(root, 'cfg.get("password")')}


def test_plain_getter_on_undecrypted_secure_config_still_blocks_when_the_plan_is_judged_elsewhere(tmp_path):
    root = program(tmp_path, '''
        cfg = pulumi.Config()
        if cfg.get("password") == "letmein":
            Thing("weak", {"public": True})
        Thing("t", {"tags": {}})
    ''', stack_yaml=secure_stack())
    plan = tmp_path / "plan.json"
    planned = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--plan-out", str(plan), env=no_passphrase())
    assert planned.returncode == 0, planned.stderr
    assert "hunter2" not in plan.read_text()
    judged = run_crossgate("check", "--plan", str(plan), "--cwd", str(tmp_path), "--format", "json", env=no_passphrase())
    assert judged.returncode == 1, judged.stderr
    [finding] = json.loads(judged.stdout)["indeterminate"]
    assert (finding["pack"], finding["policy"], finding["level"]) == (
        "crossgate", "secure-config-read-as-plain-value", "mandatory")
    assert finding["message"].startswith("secure config 'feature:password' could not be decrypted")
    assert finding["source"] == {"file": "__main__.py", "line": line_of(root, 'cfg.get("password")')}


def test_plain_getter_on_undecrypted_secure_config_is_advisory_with_unknowns_advisory(tmp_path):
    root = program(tmp_path, '''
        pulumi.Config().get("password")
    ''', stack_yaml=secure_stack())
    proc, doc = gate(root, "--unknowns", "advisory", env=no_passphrase())
    assert proc.returncode == 0, proc.stderr
    assert [(f["policy"], f["level"]) for f in doc["indeterminate"]] == [
        ("secure-config-read-as-plain-value", "advisory")]


def test_each_plain_getter_is_named(tmp_path):
    root = program(tmp_path, '''
        cfg = pulumi.Config()
        cfg.require("password")
        cfg.get_int("password") if False else None
        try:
            cfg.get_bool("password")
        except pulumi.config.ConfigTypeError:
            pass
    ''', stack_yaml=secure_stack())
    proc, doc = gate(root, env=no_passphrase())
    assert proc.returncode == 1, proc.stderr
    assert sorted(f["message"].split("read it with ")[1].split(",")[0] for f in doc["indeterminate"]) == [
        "Config.get_bool", "Config.require"]


def test_secret_getter_on_undecrypted_secure_config_does_not_block(tmp_path):
    root = program(tmp_path, '''
        cfg = pulumi.Config()
        Thing("t", {"password": cfg.require_secret("password"), "other": cfg.get_secret("password"),
                    "tags": {}})
    ''', stack_yaml=secure_stack())
    proc, doc = gate(root, env=no_passphrase())
    assert proc.returncode == 0, proc.stderr
    assert doc["indeterminate"] == []
    assert by_name(doc, "t")["inputs"]["password"] == {"$secret": True}


def test_plain_getter_with_the_passphrase_does_not_block(tmp_path):
    root = program(tmp_path, '''
        cfg = pulumi.Config()
        Thing("t", {"length": len(cfg.get("password")), "tags": {}})
    ''', stack_yaml=secure_stack())
    proc, doc = gate(root, env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": "correct horse"})
    assert proc.returncode == 0, proc.stderr
    assert doc["indeterminate"] == []


# -- 7. applies skipped on unknown input -------------------------------------------------------

def test_apply_skipped_because_its_input_is_unknown_is_reported_with_its_line(tmp_path):
    root = program(tmp_path, '''
        base = Thing("base", {"tags": {}})
        base.id.apply(lambda i: Thing(f"inner-{i}", {"public": True}))
        base.id.apply(lambda i: Thing(f"other-{i}", {"public": True}))
        pulumi.Output.from_input("known").apply(lambda v: Thing(f"ran-{v}", {"tags": {}}))
    ''')
    proc, doc = gate(root, "--policy-pack", BASIC)
    assert proc.returncode == 0, proc.stderr  # reported, not blocking by itself
    assert [r["name"] for r in doc["resources"] if r["type"] == "test:index:Thing"] == ["base", "ran-known"]
    first, second = line_of(root, 'f"inner-'), line_of(root, 'f"other-')
    assert doc["warnings"] == [
        "2 apply callback(s) did not run because their input is unknown until deployment, as in `pulumi preview`; "
        f"resources they would create are not in the plan: __main__.py:{first}, __main__.py:{second}"]


# -- 8. dynamic providers --------------------------------------------------------------------

def test_dynamic_resource_is_recorded_with_its_provider_and_reported(tmp_path):
    root = program(tmp_path, '''
        from pulumi.dynamic import CreateResult, Resource, ResourceProvider

        class Sprinkler(ResourceProvider):
            def create(self, props):
                return CreateResult("1", props)

        class Lawn(Resource):
            def __init__(self, name, litres):
                super().__init__(Sprinkler(), name, {"litres": litres})

        Lawn("lawn", 3)
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    lawn = by_name(doc, "lawn")
    assert lawn["type"] == "pulumi-python:dynamic:Resource"
    assert lawn["provider"].startswith("urn:pulumi:dev::feature::pulumi:providers:pulumi-python::default")
    assert lawn["inputs"]["litres"] == 3
    line = line_of(root, 'Lawn("lawn", 3)')
    assert doc["warnings"] == [
        f"dynamic resource {lawn['urn']} (__main__.py:{line}) runs the code of "
        "its provider __main__.Sprinkler at deployment; the plan records its inputs only"]


def test_resource_hook_marked_to_run_on_previews_is_reported_not_run(tmp_path):
    root = program(tmp_path, '''
        def announce(args):
            raise RuntimeError("hooks don't run under the gate")

        hook = pulumi.ResourceHook("announce", announce, pulumi.ResourceHookOptions(on_dry_run=True))
        quiet = pulumi.ResourceHook("quiet", announce)
        Thing("t", {}, pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(before_create=[hook, quiet])))
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 0, proc.stderr
    assert doc["warnings"] == ["resource hook 'announce' is marked to run during previews; crossgate doesn't run "
                               "resource hooks, so what it would do is not in the plan"]


# -- 9. resource options the engine sends ---------------------------------------------------

def test_packs_get_every_resource_option_pulumis_resource_metadata_case_checks():
    proc, doc = gate(FIXTURES / "programs" / "resource-metadata",
                     "--policy-pack", str(FIXTURES / "packs" / "resource-metadata"))
    assert proc.returncode == 0, proc.stderr
    assert findings(doc) == [
        ("additional-secret-outputs", "secretOutput"), ("custom-timeouts", "customTimeouts"),
        ("delete-before-replace", "deleteBeforeReplace"), ("dependencies", "dependsOn"),
        ("ignore-changes", "ignoreChanges"), ("name-type-urn-props", "identity"), ("parent", "child"),
        ("property-dependencies", "propertyDependency"), ("protect", "protected"),
        ("provider", "explicitProvider")]


def test_protect_is_inherited_from_the_parent_as_the_engine_does(tmp_path):
    root = program(tmp_path, '''
        class Resource(pulumi.CustomResource):
            def __init__(self, name, opts=None):
                super().__init__("simple:index:Resource", name, {"value": True}, opts)

        box = Box("box", pulumi.ResourceOptions(protect=True))
        Resource("protected", pulumi.ResourceOptions(parent=box))
    ''')
    proc, doc = gate(root, "--policy-pack", str(FIXTURES / "packs" / "resource-metadata"))
    assert proc.returncode == 0, proc.stderr
    assert findings(doc) == [("protect", "protected")]


def test_an_invalid_custom_timeout_is_an_error_naming_the_resource(tmp_path):
    root = program(tmp_path, '''
        Thing("slow", {}, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="five minutes")))
    ''')
    proc, doc = gate(root)
    assert proc.returncode == 2
    assert doc["errors"] == ["customTimeouts.create of urn:pulumi:dev::feature::test:index:Thing::slow: "
                             "'five minutes' is not a duration (e.g. \"5m\", \"1h30m\")"]


# -- issue 13, item 4: the program's environment ----------------------------------------------

def test_program_gets_only_the_environment_it_needs(tmp_path):
    root = program(tmp_path, '''
        import os
        pulumi.log.warn("env: " + " ".join(sorted(os.environ)))
    ''')
    leaked = {name: "should-not-reach-the-program" for name in (
        "GITHUB_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "RUNNER_TEMP", "SYSTEM_ACCESSTOKEN", "BUILD_SOURCEVERSION",
        "AZURE_CLIENT_SECRET", "ARM_CLIENT_SECRET", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE",
        "CROSSGATE_STACK", "CROSSGATE_POLICY_PACK")}
    proc, doc = gate(root, env={**os.environ, **leaked, "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    [line] = [w for w in doc["warnings"] if w.startswith("warning: env: ")]
    names = set(line[len("warning: env: "):].split())
    assert not names & set(leaked)
    assert not [n for n in names if n.startswith("CROSSGATE_")]
    assert {"PATH", "HOME", "LANG", "PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN"} <= names


def test_packs_get_the_provider_inputs_with_the_provider():
    from crossgate.engine import _analyze_request
    from crossgate.program.runner import run_program
    from crossgate.project import load_project, load_stack_config

    project = load_project(FIXTURES / "programs" / "resource-metadata")
    outcome = run_program(project, load_stack_config(project, "dev"))
    prov = next(r for r in outcome.resources if r.name == "prov")
    explicit = next(r for r in outcome.resources if r.name == "explicitProvider")
    assert explicit.provider_inputs is prov.properties
    request = _analyze_request(explicit, explicit.properties)
    assert (request.provider.urn, request.provider.type, request.provider.name) == (
        prov.urn, "pulumi:providers:simple", "prov")
    assert request.provider.properties == prov.properties
    timed = next(r for r in outcome.resources if r.name == "customTimeouts")
    assert _analyze_request(timed, timed.properties).options.customTimeouts.create == 300.0
