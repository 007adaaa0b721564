"""Regression tests: each defect of the starting sketch stays fixed in the reference stack.

The sketch (kept as ``tests/fixtures/sketch/``) is the program this project
started from. Each test is named after one of its defects and checks the
reference plan, or for the exported URL (stack outputs are not in the plan)
the pure helper that builds it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from naming import blob_endpoint_url
from plan_query import depends_via, dev_stack_values, one, resources_of

PREFIX = dev_stack_values()["namePrefix"]
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def account(plan: dict[str, Any]) -> dict[str, Any]:
    return one(plan, "azure-native:storage:StorageAccount", "aidatastorage")


def vault_properties(plan: dict[str, Any]) -> dict[str, Any]:
    return one(plan, "azure-native:keyvault:Vault", f"{PREFIX}-kv")["inputs"]["properties"]


def test_defect_empty_address_prefixes(reference_plan: dict[str, Any]) -> None:
    """The sketch gave the VNet and subnet '' as address prefixes."""
    vnet = one(reference_plan, "azure-native:network:VirtualNetwork", f"{PREFIX}-vnet")
    (space,) = vnet["inputs"]["addressSpace"]["addressPrefixes"]
    vnet_cidr = ipaddress.IPv4Network(space)
    subnets = resources_of(reference_plan, "azure-native:network:Subnet")
    assert subnets
    for subnet in subnets:
        assert ipaddress.IPv4Network(subnet["inputs"]["addressPrefix"]).subnet_of(vnet_cidr)


def test_defect_nonexistent_identity_type(reference_plan: dict[str, Any]) -> None:
    """The sketch used managedidentity.SystemAssignedManagedIdentity, which does not exist."""
    assert not [r for r in reference_plan["resources"] if r["type"].endswith(":SystemAssignedManagedIdentity")]
    assert one(reference_plan, "azure-native:managedidentity:UserAssignedIdentity", f"{PREFIX}-training-id")


def test_defect_identity_granted_nothing(reference_plan: dict[str, Any]) -> None:
    """The sketch's identity had no role assignment, so it could read nothing."""
    identity = one(reference_plan, "azure-native:managedidentity:UserAssignedIdentity", f"{PREFIX}-training-id")
    granted = [
        a
        for a in resources_of(reference_plan, "azure-native:authorization:RoleAssignment")
        if depends_via(a, "principalId", identity)
    ]
    assert {a["inputs"]["roleDefinitionId"].rsplit("/", 1)[1] for a in granted} == {BLOB_DATA_READER, SECRETS_USER}
    assert all(a["inputs"]["principalType"] == "ServicePrincipal" for a in granted)


@pytest.mark.parametrize("name", ["aidatastorage", "aidpdevst0123abcd", "abc"])
def test_defect_space_in_blob_url(name: str) -> None:
    """The sketch exported f"https:// {name}.blob.core.windows.net/" (note the space)."""
    url = blob_endpoint_url(name)
    assert url == f"https://{name}.blob.core.windows.net/"
    assert not re.search(r"\s", url)


@pytest.mark.parametrize("name", [" aidatastorage", "aidata storage", "AIDataStorage", "ab", "a" * 25])
def test_defect_space_in_blob_url_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid storage account name"):
        blob_endpoint_url(name)


def test_defect_storage_reachable_from_internet(reference_plan: dict[str, Any]) -> None:
    """The sketch left public network access, anonymous access and shared keys at their defaults."""
    inputs = account(reference_plan)["inputs"]
    assert inputs["publicNetworkAccess"] == "Disabled"
    assert inputs["networkRuleSet"]["defaultAction"] == "Deny"
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["allowSharedKeyAccess"] is False


def test_defect_service_endpoint_next_to_private_endpoint(reference_plan: dict[str, Any]) -> None:
    """The sketch's subnet also had a Microsoft.Storage service endpoint, a second path to storage."""
    for subnet in resources_of(reference_plan, "azure-native:network:Subnet"):
        assert not subnet["inputs"].get("serviceEndpoints"), subnet["name"]


def test_defect_tls_not_pinned(reference_plan: dict[str, Any]) -> None:
    inputs = account(reference_plan)["inputs"]
    assert inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["enableHttpsTrafficOnly"] is True


def test_defect_no_infrastructure_encryption(reference_plan: dict[str, Any]) -> None:
    assert account(reference_plan)["inputs"]["encryption"]["requireInfrastructureEncryption"] is True


def test_defect_no_soft_delete_or_versioning(reference_plan: dict[str, Any]) -> None:
    service = one(reference_plan, "azure-native:storage:BlobServiceProperties", f"{PREFIX}-blob-service")["inputs"]
    assert service["isVersioningEnabled"] is True
    assert service["deleteRetentionPolicy"]["enabled"] is True
    assert service["containerDeleteRetentionPolicy"]["enabled"] is True


def test_defect_vault_sku_outside_properties(reference_plan: dict[str, Any]) -> None:
    """The sketch passed sku to Vault itself; azure-native v3 only accepts it in properties."""
    vault = one(reference_plan, "azure-native:keyvault:Vault", f"{PREFIX}-kv")
    assert "sku" not in vault["inputs"]
    assert vault["inputs"]["properties"]["sku"] == {"family": "A", "name": "standard"}


def test_defect_vault_public_and_purgeable(reference_plan: dict[str, Any]) -> None:
    properties = vault_properties(reference_plan)
    assert properties["publicNetworkAccess"] == "disabled"
    assert properties["enablePurgeProtection"] is True
    assert properties["enableSoftDelete"] is True


def test_defect_vault_without_private_endpoint(reference_plan: dict[str, Any]) -> None:
    vault = one(reference_plan, "azure-native:keyvault:Vault", f"{PREFIX}-kv")
    endpoints = [
        e
        for e in resources_of(reference_plan, "azure-native:network:PrivateEndpoint")
        if depends_via(e, "privateLinkServiceConnections", vault)
    ]
    assert len(endpoints) == 1
    assert endpoints[0]["inputs"]["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]


@pytest.mark.parametrize(
    "zone_name", ["privatelink.blob.core.windows.net", "privatelink.vaultcore.azure.net"]
)
def test_defect_private_endpoints_without_dns(reference_plan: dict[str, Any], zone_name: str) -> None:
    """The sketch's endpoint had no private DNS, so clients still resolved the public address."""
    (zone,) = [
        z for z in resources_of(reference_plan, "azure-native:privatedns:PrivateZone")
        if z["inputs"]["privateZoneName"] == zone_name
    ]
    links = [
        link for link in resources_of(reference_plan, "azure-native:privatedns:VirtualNetworkLink")
        if depends_via(link, "privateZoneName", zone)
    ]
    groups = [
        group for group in resources_of(reference_plan, "azure-native:network:PrivateDnsZoneGroup")
        if depends_via(group, "privateDnsZoneConfigs", zone)
    ]
    assert len(links) == 1
    assert len(groups) == 1


def test_defect_subnet_without_nsg(reference_plan: dict[str, Any]) -> None:
    for subnet in resources_of(reference_plan, "azure-native:network:Subnet"):
        assert "id" in subnet["inputs"].get("networkSecurityGroup", {}), subnet["name"]


def test_defect_no_diagnostics(reference_plan: dict[str, Any]) -> None:
    """The sketch sent no resource logs anywhere, so data access was not auditable."""
    settings = resources_of(reference_plan, "azure-native:monitor:DiagnosticSetting")
    for source in (account(reference_plan), one(reference_plan, "azure-native:keyvault:Vault", f"{PREFIX}-kv")):
        assert any(depends_via(s, "resourceUri", source) for s in settings), source["name"]


def test_defect_implicit_location(reference_plan: dict[str, Any]) -> None:
    """The sketch relied on the provider's default location for its resource group."""
    assert one(reference_plan, "azure-native:resources:ResourceGroup", f"{PREFIX}-rg")["inputs"]["location"]
