"""crossgate's pack host answers exactly what pulumi-policy's own servicer answers, only faster.

The host (``crossgate/packs/_pack_host.py``) serves a pack with a servicer that deserialises each
resource once per request. These tests run the same packs and programs through both launchers (the
host, and ``python -m pulumi.policy`` as the Pulumi CLI runs it) and require identical results.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

import crossgate.packs.process as process
from crossgate import wire
from crossgate.engine import GateOptions, PackSpec, preview
from crossgate.packs.process import PackProcess, StackIdentity, read_manifest
from crossgate.testing import Resource, evaluate
from helpers import FIXTURES, REPO

PACKS = FIXTURES / "packs"
#: Every pack fixture that evaluates (the broken ones are compared one by one below).
WORKING_PACKS = [PACKS / n for n in ("basic", "chatty", "configured", "second", "dup", "crashes")] + [REPO / "policies"]
#: --policy-pack-config per pack (``configured`` requires one).
PACK_CONFIG = {"configured": '{"allowed-regions": {"regions": ["westeurope"]}}'}
BROKEN_PACKS = ["exits", "noport", "portexit", "malformed", "raises", "badyaml", "nomanifest", "hangs"]
PROGRAMS = {"reference": (REPO, "dev"), "sketch": (FIXTURES / "sketch", "dev"),
            "things": (FIXTURES / "programs" / "things", "dev")}


def outcome(result):
    """Everything a report shows that a servicer could influence."""
    return {
        "findings": sorted((f.kind.value, f.pack, f.policy, f.level.value, f.severity.value, f.urn, f.message)
                           for f in result.findings),
        "remediations": sorted((r.pack, r.policy, r.urn, repr(r.before), repr(r.after), r.message)
                               for r in result.remediations),
        "errors": list(result.errors),
        "warnings": list(result.warnings),
        "packs": [(p.name, p.version, [(q.name, q.enforcement_level.value) for q in p.policies])
                  for p in result.packs],
    }


def run_preview(monkeypatch, tmp_path: Path, host: str, cwd: Path, stack: str, packs, timeout: float = 300):
    monkeypatch.setattr(process, "DEFAULT_HOST", host)
    specs = []
    for pack in packs:
        configs = []
        if pack.name in PACK_CONFIG:
            configs.append(tmp_path / f"{pack.name}.json")
            configs[0].write_text(PACK_CONFIG[pack.name])
        specs.append(PackSpec(str(pack), [str(c) for c in configs]))
    return preview(str(cwd), stack, GateOptions(packs=specs, parallel=1, timeout=timeout))


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_fast_host_reports_what_the_stock_servicer_reports(monkeypatch, tmp_path, program):
    cwd, stack = PROGRAMS[program]
    stock = outcome(run_preview(monkeypatch, tmp_path, "stock", cwd, stack, WORKING_PACKS))
    fast = outcome(run_preview(monkeypatch, tmp_path, "crossgate", cwd, stack, WORKING_PACKS))
    assert fast == stock
    assert stock["errors"] == []
    if program != "reference":  # the reference stack is compliant; the others must exercise findings
        assert stock["findings"]


@pytest.mark.parametrize("pack", BROKEN_PACKS)
def test_fast_host_fails_a_broken_pack_as_the_stock_launcher_does(monkeypatch, tmp_path, pack):
    cwd, stack = PROGRAMS["things"]
    timeout = 4 if pack == "hangs" else 120
    stock = outcome(run_preview(monkeypatch, tmp_path, "stock", cwd, stack, [PACKS / pack], timeout))
    fast = outcome(run_preview(monkeypatch, tmp_path, "crossgate", cwd, stack, [PACKS / pack], timeout))
    assert stock["errors"]
    if pack == "hangs":  # whether the deadline also cuts per-resource work short depends on timing
        stock["errors"], fast["errors"] = stock["errors"][:1], fast["errors"][:1]
    assert fast == stock


def test_policies_pack_is_served_by_the_fast_servicer():
    proc = PackProcess(read_manifest(REPO / "policies"), StackIdentity("p", "s"), call_timeout=60)
    try:
        proc.start(time.monotonic() + 60)
        assert (proc.servicer, proc.servicer_note) == ("fast", f"pulumi-policy {_pulumi_policy_version()}")
        assert proc.fallback_warning is None
    finally:
        proc.stop()


def _pulumi_policy_version() -> str:
    from pulumi_policy.version import VERSION
    return VERSION


ISOLATION_PACK = '''
import json
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy


def mutate(args, report_violation):
    if args.resource_type != "test:index:Thing":
        return
    args.props["added"] = "by mutate"
    args.props["nested"]["inner"] = "changed"
    args.props["rules"][0]["name"] = "changed"


def observe(args, report_violation):
    if args.resource_type != "test:index:Thing":
        return
    p = args.props
    seen = {"added": p.get("added"), "inner": p["nested"].get("inner"), "rule": p["rules"][0]["name"],
            "last": p["rules"][-1]["name"], "slice": [r["name"] for r in p["rules"][0:2]],
            "keys": sorted(p), "types": [type(p).__name__, type(p["nested"]).__name__, type(p["rules"]).__name__]}
    report_violation(json.dumps(seen, sort_keys=True))


def reads_unknown(args, report_violation):
    if args.name == "first":
        report_violation(str(args.props["rules"][1]["source"]))


def stack_mutate(args, report_violation):
    for r in args.resources:
        if "nested" in r.props:
            r.props["nested"]["inner"] = "changed by a stack policy"
        r.dependencies.clear()
        r.property_dependencies.clear()
        r.parent = None


def stack_observe(args, report_violation):
    for r in args.resources:
        if "nested" in r.props:
            report_violation(r.props["nested"]["inner"] + " / parent " + (r.parent.name if r.parent else "-")
                             + " / deps " + ",".join(d.name for d in r.dependencies), r.urn)


def rule(name, validate, cls=ResourceValidationPolicy):
    return cls(name, name, validate=validate, enforcement_level=EnforcementLevel.MANDATORY)


PolicyPack("isolation", [rule("mutate", mutate), rule("observe", observe), rule("reads-unknown", reads_unknown),
                         rule("stack-mutate", stack_mutate, StackValidationPolicy),
                         rule("stack-observe", stack_observe, StackValidationPolicy)])
'''


def write_pack(root: Path, name: str, main: str, manifest_extra: str = "") -> Path:
    pack = root / name
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(f"runtime:\n  name: python\n{manifest_extra}version: 0.1.0\n")
    (pack / "__main__.py").write_text(textwrap.dedent(main))
    return pack


THINGS = [
    Resource("test:index:Thing", "first", {"nested": {"inner": "original"},
                                           "rules": [{"name": "a"}, {"name": "b", "source": wire.UNKNOWN},
                                                     {"name": "c"}]}),
    Resource("test:index:Thing", "second", {"nested": {"inner": "original"}, "rules": [{"name": "x"}]},
             parent="first", dependencies=["first"]),
]


@pytest.mark.parametrize("host", ["stock", "crossgate"])
def test_a_policy_never_sees_another_policys_mutation(monkeypatch, tmp_path, host):
    monkeypatch.setattr(process, "DEFAULT_HOST", host)
    pack = write_pack(tmp_path, "isolation", ISOLATION_PACK)
    result = evaluate(str(pack), THINGS)
    assert result.errors == ()
    seen = {(f.policy, f.name): f.message for f in result.findings}
    assert json.loads(seen[("observe", "first")]) == {
        "added": None, "inner": "original", "rule": "a", "last": "c", "slice": ["a", "b"],
        "keys": ["nested", "rules"], "types": ["_DictProxy", "_DictProxy", "_ListProxy"]}
    assert seen[("stack-observe", "first")] == "original / parent test-test / deps "
    assert seen[("stack-observe", "second")] == "original / parent first / deps first"
    unknown = [f for f in result.findings if f.policy == "reads-unknown" and f.name == "first"]
    assert [f.message for f in unknown] == [
        "can't run policy 'reads-unknown' from policy pack 'isolation@v0.1.0' during preview: "
        "string value at .rules.1.source can't be known during preview"]


def test_unknown_pulumi_policy_release_falls_back_to_the_stock_servicer_and_says_so(monkeypatch, tmp_path):
    """A pack whose pulumi-policy the host was not checked against runs on pulumi-policy's own servicer."""
    monkeypatch.setattr(process, "DEFAULT_HOST", "crossgate")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import pulumi_policy.version as v\nv.VERSION = '9.0.0'\n")
    pack = write_pack(tmp_path, "future", ISOLATION_PACK, "  options:\n    virtualenv: venv\n")
    (pack / "venv" / "bin").mkdir(parents=True)
    python = pack / "venv" / "bin" / "python"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={shim} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    fallback = evaluate(str(pack), THINGS)
    assert list(fallback.warnings) == [
        "policy pack future: served by pulumi-policy's own servicer (pulumi-policy 9.0.0 is not a release this "
        "host was checked against); the results are the same, evaluation is slower"]
    monkeypatch.setattr(process, "DEFAULT_HOST", "stock")
    stock = evaluate(str(pack), THINGS)
    assert outcome(fallback)["findings"] == outcome(stock)["findings"]
    assert fallback.errors == () and fallback.findings


def test_host_banner_that_is_not_understood_fails_closed(tmp_path, monkeypatch):
    """A pack launched by the host whose first line is not the host's banner is an error, not a pass."""
    fake = tmp_path / "host.py"
    fake.write_text("import sys, time\nprint('crossgate-pack-host turbo', flush=True)\ntime.sleep(30)\n")
    monkeypatch.setattr(process, "HOST_SCRIPT", fake)
    proc = PackProcess(read_manifest(PACKS / "basic"), StackIdentity("p", "s"), call_timeout=10)
    with pytest.raises(Exception) as err:
        try:
            proc.start(time.monotonic() + 20)
        finally:
            proc.stop()
    assert str(err.value) == "policy pack basic: crossgate's pack host said b'crossgate-pack-host turbo'"


@pytest.mark.parametrize("host", ["stock", "crossgate"])
def test_a_later_configure_changes_what_the_next_analyze_runs(host):
    """The host resolves the enabled policies once per Configure: a second Configure that disables a
    policy (or makes it advisory) is what the next Analyze answers, as in pulumi-policy."""
    from crossgate.engine import _analyze_request
    from crossgate.model import Level
    from crossgate.packs import config as pack_config
    from crossgate.testing import plan

    manifest = read_manifest(REPO / "policies")
    proc = PackProcess(manifest, StackIdentity("p", "s"), call_timeout=60, host=host)
    proc.start(time.monotonic() + 60)
    try:
        proc.configure_stack()
        reconciled = pack_config.reconcile(proc.analyzer_info(), [], manifest.path.name)
        resource = plan([Resource("azure-native:storage:StorageAccount", "data", {
            "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "publicNetworkAccess": "Enabled"})])[1]
        request = _analyze_request(resource, resource.properties)

        def levels_seen() -> dict[str, int]:
            return {d.policyName: d.enforcementLevel for d in proc.call("Analyze", request).diagnostics
                    if d.policyName == "storage-disable-public-network-access"}

        proc.call("Configure", pack_config.configure_request(reconciled.policies))
        assert levels_seen() == {"storage-disable-public-network-access": pack_config.level_to_proto(Level.MANDATORY)}
        levels = {name: cfg.level for name, cfg in reconciled.policies.items()}
        proc.call("Configure", pack_config.configure_request(
            reconciled.policies, {**levels, "storage-disable-public-network-access": Level.ADVISORY}))
        assert levels_seen() == {"storage-disable-public-network-access": pack_config.level_to_proto(Level.ADVISORY)}
        proc.call("Configure", pack_config.configure_request(
            reconciled.policies, {**levels, "storage-disable-public-network-access": Level.DISABLED}))
        assert levels_seen() == {}
    finally:
        proc.stop()
