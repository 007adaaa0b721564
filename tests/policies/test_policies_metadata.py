"""The metadata records: faithful to the control catalogue, and what the SDK is given is derived from them."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, Severity, StackValidationPolicy

import crossgate_azure_policies as pack
from crossgate_azure_policies import _props, docs, keyvault, metadata, network, storage
from crossgate_azure_policies.metadata import Control

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "controls" / "controls.csv"
CONTROLS = {c.slug: c for c in pack.controls()}
#: The pack's own coverage controls, which the shared control catalogue doesn't list.
OUTSIDE_CATALOGUE = {"unevaluated-resource-provider"}


def _split(cell: str) -> tuple[str, ...]:
    return tuple(v for v in cell.split("|") if v)


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, str]]:
    if not CATALOGUE.exists():
        pytest.skip(f"{CATALOGUE} is not available")
    with CATALOGUE.open(encoding="utf-8", newline="") as fh:
        return {row["slug"]: row for row in csv.DictReader(fh)}


def test_every_catalogue_control_is_a_policy(catalogue):
    assert sorted(set(CONTROLS) - OUTSIDE_CATALOGUE) == sorted(catalogue)


@pytest.mark.parametrize("slug", sorted(set(CONTROLS) - OUTSIDE_CATALOGUE))
def test_metadata_matches_catalogue(catalogue, slug):
    row, control = catalogue[slug], CONTROLS[slug]
    assert control.severity.value == row["severity"]
    assert control.cis == tuple(tuple(ref.split(":", 1)) for ref in _split(row["cis"]))
    assert control.checkov == _split(row["checkov"])
    assert control.azure_policy == _split(row["azure_policy_guid"])
    assert control.mcsb == _split(row["mcsb"])


def test_slugs_are_unique_and_never_all():
    slugs = [c.slug for c in pack.controls()]
    assert len(slugs) == len(set(slugs)) and "all" not in slugs


def test_policy_kwargs_are_derived_from_the_record():
    control = CONTROLS["storage-disallow-public-blob-access"]
    kwargs = control.policy_kwargs()
    assert kwargs["name"] == "storage-disallow-public-blob-access"
    assert kwargs["severity"] is Severity.CRITICAL
    assert kwargs["enforcement_level"] is EnforcementLevel.MANDATORY
    framework = kwargs["framework"]
    assert (framework.name, framework.version, framework.reference) == (
        "CIS Microsoft Azure Foundations", "3.0.0", "4.17")
    assert kwargs["tags"] == [
        "security", "cis-3.0.0:4.17", "cis-6.0.0:9.3.8", "checkov:CKV_AZURE_190", "checkov:CKV2_AZURE_47",
        "azure-policy:4fa4b6c0-31ca-4c0d-b10d-24b96f62a751", "azure-policy:13502221-8df0-4414-9937-de9c5c4e396b",
        "mcsb:NS-2", "type:azure-native:storage:StorageAccount"]
    assert kwargs["url"] == f"{metadata.DOCS_URL}#storage-disallow-public-blob-access"
    assert kwargs["remediation_steps"] == control.remediation


@pytest.mark.parametrize("slug, version, reference", [
    ("storage-disable-shared-key", "6.0.0", "9.3.1.3"),  # no 3.0.0 reference: the newest version
    ("rbac-no-privileged-roles-for-workloads", "6.0.0", "5.3.3"),
    ("kv-key-expiration", "3.0.0", "3.3.1, 3.3.2"),
    ("container-no-public-access", "3.0.0", "4.17"),
])
def test_framework_prefers_cis_3_0_0_else_newest(slug, version, reference):
    framework = CONTROLS[slug].framework
    assert (framework.version, framework.reference) == (version, reference)


def test_no_framework_without_a_cis_reference():
    assert CONTROLS["storage-kind-storagev2"].framework is None


def test_levels_follow_severity_unless_deployment_specific():
    for control in pack.controls():
        if control.deployment_specific:
            assert control.enforcement_level is EnforcementLevel.DISABLED
        elif control.severity in (Severity.CRITICAL, Severity.HIGH):
            assert control.enforcement_level is EnforcementLevel.MANDATORY, control.slug
        else:
            assert control.enforcement_level is EnforcementLevel.ADVISORY, control.slug
    assert {c.slug for c in pack.controls() if c.deployment_specific} == {
        "storage-cmk-encryption", "storage-geo-redundant", "container-immutable-storage",
        "container-encryption-scope-enforced", "blob-change-feed-enabled", "kv-key-hsm-backed",
        "vnet-ddos-protection", "vnet-flow-logs", "ml-cmk-encryption", "diag-nsg-logs"}


def test_invalid_records_fail_at_construction():
    good = dict(slug="x-y", description="d", severity=Severity.LOW, resource_types=("azure-native:storage:StorageAccount",),
                remediation="r")
    Control(**good)
    with pytest.raises(ValueError):
        Control(**{**good, "slug": "All Caps"})
    with pytest.raises(ValueError):
        Control(**{**good, "resource_types": ("azure-native:storage/v20230501:StorageAccount",)})
    with pytest.raises(TypeError):
        Control(**{**good, "severity": "low"})
    with pytest.raises(ValueError):
        Control(**{**good, "cis": (("4.17",),)})
    with pytest.raises(ValueError):
        Control(**{**good, "resource_types": ("azure-native_storage_v20230101:storage:StorageAccount",)})
    with pytest.raises(ValueError):
        Control(**{**good, "resource_types": ("Azure Api:*",)})
    Control(**{**good, "resource_types": ("azapi:*", "azure-native_*:*", "pulumi-python:dynamic:Resource")})


def test_every_config_property_has_a_default():
    for rule in pack.rules():
        policy = rule.build()
        if policy.config_schema is not None:
            assert all("default" in schema for schema in policy.config_schema.properties.values())


# -- the public API ----------------------------------------------------------------------------

def test_all_policies_builds_new_objects_every_call():
    first, second = pack.all_policies(), pack.all_policies()
    assert [p.name for p in first] == [c.slug for c in pack.controls()]
    assert all(a is not b for a, b in zip(first, second))
    kinds = {p.name: type(p) for p in first}
    assert kinds["storage-https-only"] is ResourceValidationPolicy
    assert kinds["storage-private-endpoint-required"] is StackValidationPolicy


def test_policies_by_name():
    assert sorted(pack.policies_by_name()) == sorted(CONTROLS)


def test_select_by_severity_framework_names_and_type():
    assert {p.name for p in pack.select(severity="critical")} == {
        s for s, c in CONTROLS.items() if c.severity is Severity.CRITICAL}
    assert {p.name for p in pack.select(severity=[Severity.HIGH, "critical"])} == {
        s for s, c in CONTROLS.items() if c.severity in (Severity.HIGH, Severity.CRITICAL)}
    assert {p.name for p in pack.select(framework="cis-6.0.0", severity="low")} == {
        "storage-trusted-services-bypass", "storage-default-oauth-portal", "storage-key-expiration-policy",
        "storage-geo-redundant", "vnet-ddos-protection"}
    assert {p.name for p in pack.select(framework="CIS Microsoft Azure Foundations")} == {
        s for s, c in CONTROLS.items() if c.cis}
    assert [p.name for p in pack.select(names=["kv-purge-protection", "storage-https-only"])] == [
        "storage-https-only", "kv-purge-protection"]
    assert {p.name for p in pack.select(resource_type="azure-native:insights:DiagnosticSetting")} == {
        "diag-destination-central-law", "diag-coverage", "diag-no-legacy-retention"}


def test_select_overrides_levels():
    (policy,) = pack.select(names=["kv-key-hsm-backed"], enforcement_level=EnforcementLevel.MANDATORY)
    assert policy.enforcement_level is EnforcementLevel.MANDATORY
    assert pack.policies_by_name()["kv-key-hsm-backed"].enforcement_level is EnforcementLevel.DISABLED


@pytest.mark.parametrize("kwargs", [{"names": ["no-such-policy"]}, {"severity": "severe"}, {"framework": "nist"}])
def test_select_rejects_unknown_filters(kwargs):
    with pytest.raises(ValueError):
        pack.select(**kwargs)


# -- helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("token, canonical", [
    ("azure-native:storage:StorageAccount", "azure-native:storage:StorageAccount"),
    ("azure-native:storage/v20230501:StorageAccount", "azure-native:storage:StorageAccount"),
    ("azure-native:insights:DiagnosticSetting", "azure-native:monitor:DiagnosticSetting"),
    ("azure-native:insights/v20210501preview:DiagnosticSetting", "azure-native:monitor:DiagnosticSetting"),
    ("azure-native:network:PrivateZone", "azure-native:privatedns:PrivateZone"),
    ("azure-native:network:VirtualNetworkLink", "azure-native:privatedns:VirtualNetworkLink"),
    ("azure-native:network:VirtualNetwork", "azure-native:network:VirtualNetwork"),
    ("pulumi:pulumi:Stack", "pulumi:pulumi:Stack"),
])
def test_canonical_type(token, canonical):
    assert _props.canonical_type(token) == canonical


@pytest.mark.parametrize("prefix, internet", [
    ("*", True), ("Internet", True), ("internet", True), ("Any", True), ("0.0.0.0", True), ("0.0.0.0/0", True),
    ("::/0", True), ("10.0.0.0/0", True), ("VirtualNetwork", False), ("10.0.0.0/8", False),
    ("AzureLoadBalancer", False), ("203.0.113.5/32", False),
])
def test_internet_sources(prefix, internet):
    assert _props.is_internet_source(prefix) is internet


@pytest.mark.parametrize("text, days", [
    ("P90D", 90), ("P1Y", 365), ("P2M", 60), ("P1Y6M", 545), ("P2W", 14), ("PT36H", 1.5), ("p30d", 30),
    ("P", None), ("90 days", None), (None, None),
])
def test_iso_durations(text, days):
    assert keyvault.duration_days(text) == days


@pytest.mark.parametrize("period, seconds", [
    ("0.01:00:00", 3600), ("7.00:00:00", 604800), ("00:30:00", 1800), ("1.2:3:4", None), ("forever", None),
])
def test_sas_periods(period, seconds):
    assert storage.sas_period_seconds(period) == seconds


@pytest.mark.parametrize("ranges, port, covered", [
    (["22"], 22, True), (["20-25"], 22, True), (["*"], 3389, True), (["80", "443"], 443, True),
    (["3000-3388"], 3389, False), (["2222"], 22, False), ([], 22, True),
])
def test_port_ranges(ranges, port, covered):
    rule = network.RuleView({"destinationPortRanges": ranges}, "rule")
    assert rule.covers_port(port) is covered


def test_case_insensitive_enums():
    assert _props.eq("Disabled", "disabled") and _props.one_of("ENABLED", ("Enabled",))
    assert not _props.eq(True, 1) and not _props.eq("true", True)


# -- the pack's distribution -------------------------------------------------------------------

def test_version_matches_the_manifest():
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert manifest["runtime"] == "python"
    assert str(manifest["version"]) == pack.__version__


def test_pyproject_reads_the_version_from_the_package():
    import tomllib

    project = tomllib.loads((PACK_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "crossgate-azure-policies"
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "crossgate_azure_policies.__version__"}
    assert "pulumi-policy>=1.20,<2" in project["project"]["dependencies"]  # the full list: tests/packaging
    assert (PACK_DIR / "requirements.txt").read_text(encoding="utf-8").split() == ["pulumi-policy>=1.20,<2"]


def test_readme_table_is_current():
    readme = (PACK_DIR / "README.md").read_text(encoding="utf-8")
    assert docs.current_table(readme) == docs.render_table(), \
        "regenerate it: python -m crossgate_azure_policies.docs policies/README.md"


def test_readme_documents_every_policy_anchor():
    table = docs.render_table()
    assert all(f'<a id="{slug}"></a>' in table for slug in CONTROLS)


def test_docs_check_mode_detects_a_stale_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{docs.START}\nold\n{docs.END}\nafter\n", encoding="utf-8")
    assert docs.main(["--check", str(readme)]) == 1
    assert docs.main([str(readme)]) == 0
    assert docs.main(["--check", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8").endswith(f"{docs.END}\nafter\n")


FORBIDDEN = ("crossgate", "pulumi_azure_native")


def test_pack_sources_import_neither_crossgate_nor_azure_native():
    for path in sorted(PACK_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not [n for n in names if n.split(".")[0] in FORBIDDEN], f"{path} imports {names}"


def test_loading_the_pack_imports_neither_crossgate_nor_azure_native():
    script = (
        "import importlib, json, pkgutil, sys\n"
        "sys.path.insert(0, '.')\n"
        "import crossgate_azure_policies as p\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    importlib.import_module(f'crossgate_azure_policies.{m.name}')\n"
        "p.all_policies()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('crossgate', 'pulumi_azure_native'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=PACK_DIR, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
