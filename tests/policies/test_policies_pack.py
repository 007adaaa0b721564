"""The pack as others use it: listed by the CLI, configured per environment, composed into another
pack, at default levels, and with values that are unknown during preview."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossgate.model import FindingKind, Level
from crossgate.testing import Resource, evaluate
from crossgate.wire import UNKNOWN
from crossgate_azure_policies import __version__, controls, rules
from crossgate_azure_policies.authorization import DEFAULT_ALLOWED_ROLES
from policy_stack import (NETWORK_CONTRIBUTOR, OWNER, READER, REPO_PACK, add, chain, delete, drop,
                          materialize, mutated, role_assignment, role_id, set_)

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = Path(REPO_PACK)
TEAM_PACK = Path(__file__).resolve().parent / "fixtures" / "team_pack"
CONTROLS = {c.slug: c for c in controls()}
KIND = {r.name: r.kind for r in rules()}


def _crossgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossgate", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _listing(*config: str) -> dict:
    args = ["policies", "--policy-pack", "policies", "--format", "json"]
    for path in config:
        args += ["--policy-pack-config", path]
    proc = _crossgate(*args)
    assert proc.returncode == 0, proc.stderr
    (pack,) = json.loads(proc.stdout)["packs"]
    return pack


def test_policies_command_lists_every_policy_with_its_metadata():
    pack = _listing()
    assert pack["name"] == "crossgate-azure" and pack["version"] == __version__
    listed = {p["name"]: p for p in pack["policies"]}
    assert sorted(listed) == sorted(CONTROLS)
    for name, policy in listed.items():
        control = CONTROLS[name]
        assert policy["kind"] == KIND[name]
        assert policy["severity"] == control.severity.value
        assert policy["enforcementLevel"] == policy["defaultEnforcementLevel"] == control.enforcement_level.value
        assert policy["tags"] == control.tags
        assert policy["remediation"] == control.remediation
        assert policy["url"] == control.docs_url
        assert policy["description"] == control.description
        framework = control.framework
        assert policy["framework"] == ({} if framework is None else {
            "name": framework.name, "version": framework.version, "reference": framework.reference})


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_environment_config_is_valid_and_keeps_critical_policies_mandatory(environment):
    path = PACK_DIR / "config" / f"{environment}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "all" not in document
    assert set(document) <= set(CONTROLS)
    pack = _listing(str(path))
    levels = {p["name"]: p["enforcementLevel"] for p in pack["policies"]}
    for name, control in CONTROLS.items():
        if control.severity.value == "critical":
            assert levels[name] == "mandatory", name
        entry = document.get(name)
        if entry is not None:
            wanted = entry if isinstance(entry, str) else entry.get("enforcementLevel", levels[name])
            assert levels[name] == wanted


def test_prod_is_at_least_as_strict_as_dev():
    rank = {"disabled": 0, "advisory": 1, "mandatory": 2}
    dev = {p["name"]: p["enforcementLevel"] for p in _listing("policies/config/dev.json")["policies"]}
    prod = {p["name"]: p["enforcementLevel"] for p in _listing("policies/config/prod.json")["policies"]}
    assert [n for n in CONTROLS if rank[prod[n]] < rank[dev[n]]] == []
    assert sum(rank[v] for v in prod.values()) > sum(rank[v] for v in dev.values())


# -- at default levels ---------------------------------------------------------------------------

DEPLOYMENT_SPECIFIC_OFF = chain(
    set_("storage", "encryption.keySource", "Microsoft.Storage"),
    set_("storage", "sku.name", "Standard_LRS"),
    delete("container", "immutableStorageWithVersioning"),
    delete("container", "defaultEncryptionScope"),
    set_("blob-service", "changeFeed.enabled", False),
    set_("key", "properties.kty", "RSA"),
    set_("vnet", "enableDdosProtection", False),
    drop("vnet-flow-log", "spoke-flow-log"),
    delete("mlw", "encryption"),
    drop("diag-nsg-pe"),
)
ALLOW_LIST_CONFIG = {
    "rbac-data-roles-allowlist": {"allowedRoleDefinitionIds": [*DEFAULT_ALLOWED_ROLES, NETWORK_CONTRIBUTOR.upper()]},
    "rbac-principal-type-explicit": {"allowedPrincipalTypes": ["ServicePrincipal", "Group", "User"]},
}


@pytest.fixture(scope="module")
def default_levels():
    """Config with properties only (levels stay the defaults): deployment-specific controls violated,
    an allow-listed extra role and a 'User' principal, and one Owner assignment."""
    resources = materialize(mutated(DEPLOYMENT_SPECIFIC_OFF), "defaults", "storage")
    resources += materialize(mutated(chain(
        set_("ra-group-reader", "roleDefinitionId", role_id(NETWORK_CONTRIBUTOR)),
        set_("ra-rg-reader", "principalType", "User"),
        add("ra-owner", role_assignment(OWNER, "rg", None, "Group")))), "allow-list", "ra-owner")
    return evaluate(REPO_PACK, resources, config=ALLOW_LIST_CONFIG)


def test_deployment_specific_policies_do_not_fire_by_default(default_levels):
    assert default_levels.errors == () and default_levels.indeterminate == []
    (pack,) = default_levels.packs
    disabled = {p.name for p in pack.policies if p.enforcement_level is Level.DISABLED}
    assert disabled == {c.slug for c in controls() if c.deployment_specific}
    assert [f for f in default_levels.findings if f.name == "defaults" or f.name.startswith("defaults/")] == []


def test_allow_list_and_principal_types_come_from_config(default_levels):
    reported = {(f.policy, f.name, f.level) for f in default_levels.violations if f.name.startswith("allow-list")}
    # The extra role and the user principal are allowed by config; Owner is still refused, at its
    # default (mandatory) level.
    assert reported == {("rbac-no-privileged-roles-for-workloads", "allow-list", Level.MANDATORY)}


# -- unknown values --------------------------------------------------------------------------------

def test_unknown_values_from_other_resources_are_resolved_through_dependencies():
    scoped = {"roleDefinitionId": role_id(READER), "principalType": "ServicePrincipal", "principalId": UNKNOWN,
              "scope": UNKNOWN}
    result = evaluate(REPO_PACK, [
        Resource("azure-native:resources:ResourceGroup", "rg", {"location": "westeurope"}),
        Resource("azure-native:managedidentity:UserAssignedIdentity", "id", {"resourceGroupName": UNKNOWN},
                 property_dependencies={"resourceGroupName": ["rg"]}),
        # Unknown scope computed from a resource group: decided, no finding and nothing indeterminate.
        Resource("azure-native:authorization:RoleAssignment", "ra-rg", scoped,
                 property_dependencies={"scope": ["rg"], "principalId": ["id"]}),
        # Unknown scope computed from nothing in the stack: only the scope policy can't decide.
        Resource("azure-native:authorization:RoleAssignment", "ra-unresolved", dict(scoped),
                 property_dependencies={"principalId": ["id"]}),
        # A literal field a resource policy needs is itself unknown: that policy can't decide.
        Resource("azure-native:authorization:RoleAssignment", "ra-unknown-type", {**scoped, "principalType": UNKNOWN},
                 property_dependencies={"scope": ["rg"], "principalId": ["id"]}),
    ])
    assert result.errors == () and result.violations == []
    indeterminate = sorted((f.policy, f.name, f.level) for f in result.indeterminate)
    assert indeterminate == [
        ("rbac-principal-type-explicit", "ra-unknown-type", Level.ADVISORY),
        ("rbac-scope-resource-group-or-narrower", "test-test", Level.MANDATORY),
    ]
    (scope,) = [f for f in result.indeterminate if f.policy == "rbac-scope-resource-group-or-narrower"]
    assert "string value at .scope can't be known during preview (resource 'ra-unresolved')" in scope.message
    # uami-least-privilege-footprint read the unknown principal type and left it alone.
    assert not [f for f in result.findings if f.policy == "uami-least-privilege-footprint"]


def test_stack_policy_reports_what_it_can_decide_before_giving_up():
    scope = {"roleDefinitionId": role_id(READER), "principalType": "ServicePrincipal", "principalId": "x"}
    result = evaluate(REPO_PACK, [
        Resource("azure-native:authorization:RoleAssignment", "ra-unresolved", {**scope, "scope": UNKNOWN}),
        Resource("azure-native:authorization:RoleAssignment", "ra-subscription",
                 {**scope, "scope": "/subscriptions/00000000-0000-0000-0000-000000000001"}),
    ])
    assert [(f.policy, f.name) for f in result.violations] == [
        ("rbac-scope-resource-group-or-narrower", "ra-subscription")]
    assert [f.policy for f in result.indeterminate] == ["rbac-scope-resource-group-or-narrower"]


# -- composing -------------------------------------------------------------------------------------

@pytest.fixture
def pack_on_path(monkeypatch):
    """Let another pack's process import crossgate_azure_policies even where it is not installed."""
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (existing, str(PACK_DIR)) if p))


def test_a_team_pack_composed_from_ours_keeps_its_own_levels(pack_on_path):
    result = evaluate(str(TEAM_PACK), [
        Resource("azure-native:storage:StorageAccount", "http-account", {"enableHttpsTrafficOnly": False}),
        Resource("azure-native:keyvault:Key", "soft-key", {"properties": {"kty": "RSA", "keySize": 3072}}),
        Resource("azure-native:authorization:RoleAssignment", "user-grant",
                 {"roleDefinitionId": role_id(OWNER), "principalType": "User", "principalId": "x",
                  "scope": "/subscriptions/1"}),
    ])
    assert result.errors == ()
    (pack,) = result.packs
    assert (pack.name, pack.version) == ("team-data", "0.3.0")
    assert {(p.name, p.enforcement_level) for p in pack.policies} == {
        ("storage-https-only", Level.ADVISORY), ("kv-key-hsm-backed", Level.MANDATORY),
        ("rbac-principal-type-explicit", Level.MANDATORY)}
    assert sorted((f.policy, f.name, f.level) for f in result.violations) == [
        ("kv-key-hsm-backed", "soft-key", Level.MANDATORY),
        ("rbac-principal-type-explicit", "user-grant", Level.MANDATORY),
        ("storage-https-only", "http-account", Level.ADVISORY),
    ]
    assert all(f.kind is FindingKind.VIOLATION for f in result.findings)
