"""Attacks on what changed in the second session: the pack host's lazily made views and its cache of
enabled policies, plain invokes and aliases. Each test is named by the outcome it pins."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

import crossgate.packs.process as process
from crossgate import wire
from crossgate.testing import Resource, evaluate
from helpers import FIXTURES, run_crossgate

THINGS = [
    Resource("test:index:Thing", "first", {"nested": {"inner": "original"},
                                           "rules": [{"name": "a"}, {"name": "b", "source": wire.UNKNOWN}]}),
]


def write_pack(root: Path, name: str, main: str) -> Path:
    pack = root / name
    pack.mkdir(parents=True)
    (pack / "PulumiPolicy.yaml").write_text("runtime:\n  name: python\nversion: 0.1.0\n")
    (pack / "__main__.py").write_text(textwrap.dedent(main))
    return pack

INTROSPECTION_PACK = '''
import copy, json, pickle
from collections.abc import Mapping
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def deep(p):
    c = copy.deepcopy(p)
    c["nested"]["inner"] = "changed in the copy"
    return [type(c).__name__, c["nested"]["inner"], p["nested"]["inner"], c["rules"][0]["name"], len(c["rules"]),
            c["rules"][1]["source"]]


def shallow(p):
    c = copy.copy(p)
    c["added"] = 1
    return [type(c).__name__, sorted(c), sorted(p)]


def pickled(p):
    c = pickle.loads(pickle.dumps(p))
    return [type(c).__name__, sorted(c), c["nested"]["inner"], [r["name"] for r in c["rules"][0:1]],
            c["rules"][1]["source"]]


OPS = {
    "deepcopy": deep,
    "copy": shallow,
    "pickle": pickled,
    "vars": lambda p: sorted(vars(p)),
    "dir": lambda p: [a for a in dir(p) if not a.startswith("__")],
    "class": lambda p: [p.__class__.__name__, isinstance(p, Mapping), len(p), sorted(iter(p)), sorted(dict(p))],
    "eq": lambda p: [p == p, p == {}],
}


def probe(op):
    def validate(args, report_violation):
        if args.name == "first":
            report_violation(json.dumps(OPS[op](args.props)))
    return validate


PolicyPack("introspection", [ResourceValidationPolicy(op, op, validate=probe(op),
                                                      enforcement_level=EnforcementLevel.MANDATORY) for op in OPS])
'''


def findings_by_policy(result):
    return {f.policy: f.message for f in result.findings if f.name == "first"}


def on_both_hosts(monkeypatch, tmp_path, name: str, pack: str) -> dict[str, dict[str, str]]:
    """The first Thing's findings by policy, with the pack served by pulumi-policy and by crossgate's host."""
    seen = {}
    for host in ("stock", "crossgate"):
        monkeypatch.setattr(process, "DEFAULT_HOST", host)
        result = evaluate(str(write_pack(tmp_path / host, name, pack)), THINGS)
        assert result.errors == ()
        seen[host] = findings_by_policy(result)
    return seen


def test_a_policy_that_copies_pickles_or_introspects_its_props_sees_what_pulumi_policy_hands_it(monkeypatch, tmp_path):
    seen = on_both_hosts(monkeypatch, tmp_path, "introspection", INTROSPECTION_PACK)
    unknown = ("can't run policy '{}' from policy pack 'introspection@v0.1.0' during preview: "
               "string value at .rules.1.source can't be known during preview")
    assert seen["stock"] == {
        "deepcopy": unknown.format("deepcopy"),
        "copy": json.dumps(["_DictProxy", ["added", "nested", "rules"], ["added", "nested", "rules"]]),
        "pickle": unknown.format("pickle"),
        "vars": json.dumps(["_DictProxy__props_acc", "_DictProxy__target"]),
        "dir": json.dumps(["_DictProxy__props_acc", "_DictProxy__target", "_abc_impl", "get", "items", "keys",
                           "values"]),
        "class": json.dumps(["_DictProxy", True, 2, ["nested", "rules"], ["nested", "rules"]]),
        "eq": json.dumps([True, False]),
    }
    assert seen["crossgate"] == seen["stock"]


def load_pack_host():
    """crossgate's pack host as a module of this process, without letting it change ``sys.path``."""
    import importlib.util
    import sys

    from crossgate.packs.process import HOST_SCRIPT

    spec = importlib.util.spec_from_file_location("crossgate_pack_host_under_test", HOST_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def test_a_configure_that_lands_while_a_request_resolves_its_policies_still_decides_the_next_request(monkeypatch):
    """gRPC serves calls on several threads: a request resolving the enabled policies while a Configure
    is being applied must not leave the earlier levels cached (a policy the gate then enables would
    never run and never answer). The interleaving is forced by resolving from inside Configure."""
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
    from pulumi_policy import policy as sdk
    from pulumi_policy import proxy

    from crossgate.model import Level
    from crossgate.packs import config as pack_config

    host = load_pack_host()
    monkeypatch.setattr(host, "_settle_heap", lambda: None)
    monkeypatch.setitem(host._PROXIES, "dict", proxy._DictProxy)
    monkeypatch.setitem(host._PROXIES, "list", proxy._ListProxy)
    servicer_class = host._fast_servicer(sdk)

    class InterleavedServicer(servicer_class):
        def _convert_enforcement_level(self, enforcement_level):
            # A request on another thread resolves the enabled policies mid-Configure.
            self._active(ResourceValidationPolicy)
            return super()._convert_enforcement_level(enforcement_level)

    policy = ResourceValidationPolicy("guarded", "guarded", validate=lambda args, report: None)
    servicer = InterleavedServicer("pack", "0.1.0", [policy], EnforcementLevel.MANDATORY)

    def configure(level: Level) -> None:
        request = sdk.proto.ConfigureAnalyzerRequest()
        request.policyConfig["guarded"].enforcementLevel = pack_config.level_to_proto(level)
        servicer.Configure(request, None)

    configure(Level.DISABLED)
    assert servicer._active(ResourceValidationPolicy) == ()
    configure(Level.MANDATORY)
    assert servicer._active(ResourceValidationPolicy) == ((policy, EnforcementLevel.MANDATORY),)


FORMATS = ("table", "json", "sarif", "junit", "markdown")


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_in_the_token_of_an_invoke_read_as_a_plain_value_is_printed_in_no_format(fmt):
    program = FIXTURES / "programs" / "adversarial-secret-in-plain-read"
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--parallel", "1", "--format", fmt,
                         env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": "crossgate-test-passphrase"})
    assert proc.returncode == 1, proc.stderr
    for leak in ("orders-db-7781", ":eu:", "'eu'"):
        assert leak not in proc.stdout and leak not in proc.stderr
    if fmt == "json":
        doc = json.loads(proc.stdout)
        assert sorted(f["message"].split("'")[1] for f in doc["indeterminate"]) == [
            "test:[secret]:getApplied", "test:[secret]:getShort", "test:index:get[secret]"]


BACKDOOR_PACK = '''
import json
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def mutate(args, report_violation):
    if args.name != "first":
        return
    target = args.props["__target"]  # pulumi-policy's proxies hand out their target under this key
    nested = target.get("nested")
    nested = nested["__target"] if not isinstance(nested, dict) else nested
    nested["inner"] = "changed through dict.get"
    for value in dict(target).values():
        if isinstance(value, dict):
            value["extra"] = "changed through dict(...)"
    for rule in list(args.props["rules"]["__target"]):
        rule = rule if isinstance(rule, dict) else rule["__target"]
        rule["name"] = "changed through iteration"


def observe(args, report_violation):
    if args.name == "first":
        p = args.props
        report_violation(json.dumps([p["nested"]["inner"], p["nested"].get("extra"), p["rules"][0]["name"]]))


PolicyPack("backdoor", [ResourceValidationPolicy(name, name, validate=validate,
                                                 enforcement_level=EnforcementLevel.MANDATORY)
                        for name, validate in (("mutate", mutate), ("observe", observe))])
'''


def test_a_policy_that_mutates_through_its_props_target_never_changes_what_the_next_policy_reads(monkeypatch,
                                                                                                  tmp_path):
    seen = on_both_hosts(monkeypatch, tmp_path, "backdoor", BACKDOOR_PACK)
    assert seen["stock"] == {"observe": json.dumps(["original", None, "a"])}
    assert seen["crossgate"] == seen["stock"]
