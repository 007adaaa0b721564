"""The reference stack's plan (``crossgate preview --stack dev``), property by property.

Every security-relevant input of the program in ``infra/`` is pinned here
against the engine's view of it (camelCase wire inputs). Values that are only
known after deployment (ids, generated names) are checked through
``propertyDependencies`` instead: that is what proves, say, that a subnet's NSG
id really comes from the NSG declared for it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from plan_query import depends_via, dev_stack_values, dig, is_unknown, one, resources_of

DEV = dev_stack_values()
PREFIX = DEV["namePrefix"]

RG = "azure-native:resources:ResourceGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
VAULT = "azure-native:keyvault:Vault"
ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
WORKSPACE = "azure-native:operationalinsights:Workspace"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"

BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ROLE_DEFINITION_RE = re.compile(
    r"^/subscriptions/[0-9a-f-]{36}/providers/Microsoft\.Authorization/roleDefinitions/(?P<role>[0-9a-f-]{36})$"
)

# (subnet logical name, its NSG, its config key)
SUBNETS = [
    (f"{PREFIX}-workload-snet", f"{PREFIX}-workload-nsg", "workloadSubnetCidr"),
    (f"{PREFIX}-pe-snet", f"{PREFIX}-pe-nsg", "privateEndpointSubnetCidr"),
]
# (private link name prefix, target type, target name, group id, DNS zone)
PRIVATE_LINKS = [
    (f"{PREFIX}-blob", ACCOUNT, "aidatastorage", "blob", "privatelink.blob.core.windows.net"),
    (f"{PREFIX}-kv", VAULT, f"{PREFIX}-kv", "vault", "privatelink.vaultcore.azure.net"),
]


def account(plan: dict[str, Any]) -> dict[str, Any]:
    return one(plan, ACCOUNT, "aidatastorage")


def vault(plan: dict[str, Any]) -> dict[str, Any]:
    return one(plan, VAULT, f"{PREFIX}-kv")


def role_of(assignment: dict[str, Any]) -> str:
    match = ROLE_DEFINITION_RE.match(assignment["inputs"]["roleDefinitionId"])
    assert match, assignment["inputs"]["roleDefinitionId"]
    return match["role"]


# --- resource group and locations ---------------------------------------------


def test_resource_group_location(reference_plan: dict[str, Any]) -> None:
    assert one(reference_plan, RG, f"{PREFIX}-rg")["inputs"]["location"] == DEV["location"]


def test_every_located_resource_uses_stack_location_or_global(reference_plan: dict[str, Any]) -> None:
    for resource in reference_plan["resources"]:
        location = resource["inputs"].get("location")
        if location is not None and resource["type"].startswith("azure-native:"):
            assert location in (DEV["location"], "global"), resource["urn"]


# --- network ------------------------------------------------------------------


def test_vnet_address_space(reference_plan: dict[str, Any]) -> None:
    vnet = one(reference_plan, VNET, f"{PREFIX}-vnet")
    assert vnet["inputs"]["addressSpace"]["addressPrefixes"] == [DEV["vnetCidr"]]


def test_vnet_declares_no_inline_subnets(reference_plan: dict[str, Any]) -> None:
    assert "subnets" not in one(reference_plan, VNET, f"{PREFIX}-vnet")["inputs"]


def test_exactly_two_subnets(reference_plan: dict[str, Any]) -> None:
    assert sorted(r["name"] for r in resources_of(reference_plan, SUBNET)) == sorted(s for s, _, _ in SUBNETS)


@pytest.mark.parametrize(("subnet_name", "nsg_name", "key"), SUBNETS)
def test_subnet_address_prefix(reference_plan: dict[str, Any], subnet_name: str, nsg_name: str, key: str) -> None:
    assert one(reference_plan, SUBNET, subnet_name)["inputs"]["addressPrefix"] == DEV[key]


@pytest.mark.parametrize(("subnet_name", "nsg_name", "key"), SUBNETS)
def test_subnet_in_vnet(reference_plan: dict[str, Any], subnet_name: str, nsg_name: str, key: str) -> None:
    subnet = one(reference_plan, SUBNET, subnet_name)
    assert depends_via(subnet, "virtualNetworkName", one(reference_plan, VNET, f"{PREFIX}-vnet"))


@pytest.mark.parametrize(("subnet_name", "nsg_name", "key"), SUBNETS)
def test_subnet_default_outbound_access_off(
    reference_plan: dict[str, Any], subnet_name: str, nsg_name: str, key: str
) -> None:
    assert one(reference_plan, SUBNET, subnet_name)["inputs"]["defaultOutboundAccess"] is False


@pytest.mark.parametrize(("subnet_name", "nsg_name", "key"), SUBNETS)
def test_subnet_private_endpoint_network_policies_enabled(
    reference_plan: dict[str, Any], subnet_name: str, nsg_name: str, key: str
) -> None:
    assert one(reference_plan, SUBNET, subnet_name)["inputs"]["privateEndpointNetworkPolicies"] == "Enabled"


@pytest.mark.parametrize(("subnet_name", "nsg_name", "key"), SUBNETS)
def test_subnet_associated_with_its_nsg(
    reference_plan: dict[str, Any], subnet_name: str, nsg_name: str, key: str
) -> None:
    subnet = one(reference_plan, SUBNET, subnet_name)
    assert is_unknown(subnet["inputs"]["networkSecurityGroup"]["id"])
    assert depends_via(subnet, "networkSecurityGroup", one(reference_plan, NSG, nsg_name))


@pytest.mark.parametrize("nsg_name", [nsg for _, nsg, _ in SUBNETS])
def test_nsg_denies_inbound_from_internet(reference_plan: dict[str, Any], nsg_name: str) -> None:
    rules = one(reference_plan, NSG, nsg_name)["inputs"]["securityRules"]
    deny = [r for r in rules if r.get("sourceAddressPrefix") == "Internet"]
    assert len(deny) == 1
    rule = deny[0]
    assert rule["access"] == "Deny"
    assert rule["direction"] == "Inbound"
    assert rule["protocol"] == "*"
    assert rule["sourcePortRange"] == "*"
    assert rule["destinationAddressPrefix"] == "*"
    assert rule["destinationPortRange"] == "*"
    assert rule["priority"] == 100


@pytest.mark.parametrize("nsg_name", [nsg for _, nsg, _ in SUBNETS])
def test_nsg_allows_nothing_inbound(reference_plan: dict[str, Any], nsg_name: str) -> None:
    rules = one(reference_plan, NSG, nsg_name)["inputs"]["securityRules"]
    assert not [r for r in rules if r["direction"] == "Inbound" and r["access"] == "Allow"]


# --- storage ------------------------------------------------------------------

ACCOUNT_INPUTS = [
    (("kind",), "StorageV2"),
    (("sku", "name"), "Standard_GZRS"),
    (("enableHttpsTrafficOnly",), True),
    (("minimumTlsVersion",), "TLS1_2"),
    (("allowBlobPublicAccess",), False),
    (("allowSharedKeyAccess",), False),
    (("publicNetworkAccess",), "Disabled"),
    (("networkRuleSet", "defaultAction"), "Deny"),
    (("networkRuleSet", "bypass"), "AzureServices"),
    (("encryption", "requireInfrastructureEncryption"), True),
    (("encryption", "keySource"), "Microsoft.Storage"),
    (("allowCrossTenantReplication",), False),
    (("defaultToOAuthAuthentication",), True),
    (("isLocalUserEnabled",), False),
    (("isSftpEnabled",), False),
    (("allowedCopyScope",), "PrivateLink"),
    (("keyPolicy", "keyExpirationPeriodInDays"), 90),
    (("sasPolicy", "sasExpirationPeriod"), "0.01:00:00"),
    (("sasPolicy", "expirationAction"), "Block"),
]


@pytest.mark.parametrize(("path", "expected"), ACCOUNT_INPUTS, ids=[".".join(p) for p, _ in ACCOUNT_INPUTS])
def test_storage_account_input(reference_plan: dict[str, Any], path: tuple[str, ...], expected: object) -> None:
    assert dig(account(reference_plan)["inputs"], path) == expected


@pytest.mark.parametrize("rules", ["ipRules", "virtualNetworkRules", "resourceAccessRules"])
def test_storage_network_rules_have_no_exceptions(reference_plan: dict[str, Any], rules: str) -> None:
    assert not account(reference_plan)["inputs"]["networkRuleSet"].get(rules)


@pytest.mark.parametrize("service", ["blob", "file", "queue", "table"])
def test_storage_services_encrypted_with_account_key(reference_plan: dict[str, Any], service: str) -> None:
    services = account(reference_plan)["inputs"]["encryption"]["services"]
    assert services[service] == {"enabled": True, "keyType": "Account"}


def test_storage_account_name_is_explicit_and_valid(reference_plan: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-z0-9]{3,24}", account(reference_plan)["inputs"]["accountName"])


BLOB_SERVICE_INPUTS = [
    (("blobServicesName",), "default"),
    (("isVersioningEnabled",), True),
    (("deleteRetentionPolicy", "enabled"), True),
    (("deleteRetentionPolicy", "allowPermanentDelete"), False),
    (("containerDeleteRetentionPolicy", "enabled"), True),
    (("changeFeed", "enabled"), True),
]


@pytest.mark.parametrize(
    ("path", "expected"), BLOB_SERVICE_INPUTS, ids=[".".join(p) for p, _ in BLOB_SERVICE_INPUTS]
)
def test_blob_service_input(reference_plan: dict[str, Any], path: tuple[str, ...], expected: object) -> None:
    service = one(reference_plan, BLOB_SERVICE, f"{PREFIX}-blob-service")
    assert dig(service["inputs"], path) == expected


@pytest.mark.parametrize(
    ("path", "minimum"),
    [
        (("deleteRetentionPolicy", "days"), 7),
        (("containerDeleteRetentionPolicy", "days"), 7),
        (("changeFeed", "retentionInDays"), 90),
    ],
    ids=["deleteRetentionPolicy.days", "containerDeleteRetentionPolicy.days", "changeFeed.retentionInDays"],
)
def test_blob_service_retention_minimum(reference_plan: dict[str, Any], path: tuple[str, ...], minimum: int) -> None:
    service = one(reference_plan, BLOB_SERVICE, f"{PREFIX}-blob-service")
    assert dig(service["inputs"], path) >= minimum


def test_blob_service_belongs_to_account(reference_plan: dict[str, Any]) -> None:
    service = one(reference_plan, BLOB_SERVICE, f"{PREFIX}-blob-service")
    assert depends_via(service, "accountName", account(reference_plan))


def test_container_is_private(reference_plan: dict[str, Any]) -> None:
    assert one(reference_plan, CONTAINER, f"{PREFIX}-training-data")["inputs"]["publicAccess"] == "None"


def test_container_name(reference_plan: dict[str, Any]) -> None:
    assert one(reference_plan, CONTAINER, f"{PREFIX}-training-data")["inputs"]["containerName"] == "training-data"


def test_container_belongs_to_account(reference_plan: dict[str, Any]) -> None:
    container = one(reference_plan, CONTAINER, f"{PREFIX}-training-data")
    assert depends_via(container, "accountName", account(reference_plan))


def test_single_container(reference_plan: dict[str, Any]) -> None:
    assert len(resources_of(reference_plan, CONTAINER)) == 1


# --- key vault ----------------------------------------------------------------

VAULT_PROPERTIES = [
    (("sku", "family"), "A"),
    (("sku", "name"), "standard"),
    (("enableRbacAuthorization",), True),
    (("enablePurgeProtection",), True),
    (("enableSoftDelete",), True),
    (("softDeleteRetentionInDays",), 90),
    (("publicNetworkAccess",), "disabled"),
    (("networkAcls", "defaultAction"), "Deny"),
    (("networkAcls", "bypass"), "AzureServices"),
    (("enabledForDeployment",), False),
    (("enabledForDiskEncryption",), False),
    (("enabledForTemplateDeployment",), False),
]


@pytest.mark.parametrize(("path", "expected"), VAULT_PROPERTIES, ids=[".".join(p) for p, _ in VAULT_PROPERTIES])
def test_vault_property(reference_plan: dict[str, Any], path: tuple[str, ...], expected: object) -> None:
    assert dig(vault(reference_plan)["inputs"]["properties"], path) == expected


def test_vault_tenant_from_client(reference_plan: dict[str, Any]) -> None:
    """The tenant comes from the getClientConfig invoke, which the runner answers with a GUID."""
    tenant = vault(reference_plan)["inputs"]["properties"]["tenantId"]
    assert uuid.UUID(tenant)


@pytest.mark.parametrize("rules", ["ipRules", "virtualNetworkRules"])
def test_vault_network_acls_have_no_exceptions(reference_plan: dict[str, Any], rules: str) -> None:
    assert not vault(reference_plan)["inputs"]["properties"]["networkAcls"].get(rules)


def test_vault_has_no_access_policies(reference_plan: dict[str, Any]) -> None:
    assert not vault(reference_plan)["inputs"]["properties"].get("accessPolicies")


def test_vault_name_is_explicit_and_valid(reference_plan: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault(reference_plan)["inputs"]["vaultName"])


# --- private endpoints and DNS --------------------------------------------------

LINK_IDS = [group for _, _, _, group, _ in PRIVATE_LINKS]


def test_exactly_two_private_endpoints(reference_plan: dict[str, Any]) -> None:
    assert len(resources_of(reference_plan, ENDPOINT)) == 2


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_endpoint_group(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    connections = one(reference_plan, ENDPOINT, f"{name}-pe")["inputs"]["privateLinkServiceConnections"]
    assert [c["groupIds"] for c in connections] == [[group]]


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_endpoint_targets_resource(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    endpoint = one(reference_plan, ENDPOINT, f"{name}-pe")
    assert depends_via(endpoint, "privateLinkServiceConnections", one(reference_plan, target_type, target_name))


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_endpoint_in_pe_subnet(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    endpoint = one(reference_plan, ENDPOINT, f"{name}-pe")
    assert depends_via(endpoint, "subnet", one(reference_plan, SUBNET, f"{PREFIX}-pe-snet"))
    assert list(endpoint["inputs"]["subnet"]) == ["id"]


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_dns_zone(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    zone = one(reference_plan, ZONE, f"{name}-dns-zone")
    assert zone["inputs"]["privateZoneName"] == zone_name
    assert zone["inputs"]["location"] == "global"


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_dns_vnet_link(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    link = one(reference_plan, VNET_LINK, f"{name}-dns-link")
    assert link["inputs"]["registrationEnabled"] is False
    assert link["inputs"]["resolutionPolicy"] == "Default"
    assert link["inputs"]["location"] == "global"
    assert depends_via(link, "privateZoneName", one(reference_plan, ZONE, f"{name}-dns-zone"))
    assert depends_via(link, "virtualNetwork", one(reference_plan, VNET, f"{PREFIX}-vnet"))


@pytest.mark.parametrize(("name", "target_type", "target_name", "group", "zone_name"), PRIVATE_LINKS, ids=LINK_IDS)
def test_private_dns_zone_group(
    reference_plan: dict[str, Any], name: str, target_type: str, target_name: str, group: str, zone_name: str
) -> None:
    zone_group = one(reference_plan, ZONE_GROUP, f"{name}-dns-zone-group")
    assert depends_via(zone_group, "privateEndpointName", one(reference_plan, ENDPOINT, f"{name}-pe"))
    zones = zone_group["inputs"]["privateDnsZoneConfigs"]
    assert len(zones) == 1
    assert is_unknown(zones[0]["privateDnsZoneId"])
    assert depends_via(zone_group, "privateDnsZoneConfigs", one(reference_plan, ZONE, f"{name}-dns-zone"))


# --- identity and RBAC -----------------------------------------------------------


def test_single_user_assigned_identity(reference_plan: dict[str, Any]) -> None:
    assert [r["name"] for r in resources_of(reference_plan, IDENTITY)] == [f"{PREFIX}-training-id"]


@pytest.mark.parametrize(
    ("assignment_name", "role", "scope_type", "scope_name"),
    [
        (f"{PREFIX}-training-blob-reader", BLOB_DATA_READER, CONTAINER, f"{PREFIX}-training-data"),
        (f"{PREFIX}-training-secrets-user", SECRETS_USER, VAULT, f"{PREFIX}-kv"),
    ],
    ids=["blob-data-reader", "secrets-user"],
)
def test_training_identity_role(
    reference_plan: dict[str, Any], assignment_name: str, role: str, scope_type: str, scope_name: str
) -> None:
    assignment = one(reference_plan, ROLE_ASSIGNMENT, assignment_name)
    assert role_of(assignment) == role
    assert assignment["inputs"]["principalType"] == "ServicePrincipal"
    assert depends_via(assignment, "principalId", one(reference_plan, IDENTITY, f"{PREFIX}-training-id"))
    assert depends_via(assignment, "scope", one(reference_plan, scope_type, scope_name))


@pytest.mark.parametrize("reader", DEV.get("dataReaderPrincipals", []), ids=lambda r: r["principalId"])
def test_data_reader_role(reference_plan: dict[str, Any], reader: dict[str, str]) -> None:
    assignment = one(reference_plan, ROLE_ASSIGNMENT, f"{PREFIX}-data-reader-{reader['principalId']}")
    assert role_of(assignment) == BLOB_DATA_READER
    assert assignment["inputs"]["principalId"] == reader["principalId"]
    assert assignment["inputs"]["principalType"] == reader["principalType"]
    assert depends_via(assignment, "scope", one(reference_plan, CONTAINER, f"{PREFIX}-training-data"))


def test_role_assignment_count(reference_plan: dict[str, Any]) -> None:
    assert len(resources_of(reference_plan, ROLE_ASSIGNMENT)) == 2 + len(DEV.get("dataReaderPrincipals", []))


def test_only_data_roles_granted(reference_plan: dict[str, Any]) -> None:
    roles = {role_of(a) for a in resources_of(reference_plan, ROLE_ASSIGNMENT)}
    assert roles <= {BLOB_DATA_READER, SECRETS_USER}
    assert not roles & {OWNER, CONTRIBUTOR}


def test_role_assignment_names_are_unique_guids(reference_plan: dict[str, Any]) -> None:
    names = [a["inputs"]["roleAssignmentName"] for a in resources_of(reference_plan, ROLE_ASSIGNMENT)]
    assert all(uuid.UUID(n) for n in names)
    assert len(set(names)) == len(names)


# --- monitoring ------------------------------------------------------------------


def test_workspace_retention(reference_plan: dict[str, Any]) -> None:
    workspace = one(reference_plan, WORKSPACE, f"{PREFIX}-law")
    assert workspace["inputs"]["retentionInDays"] == int(DEV["logRetentionDays"])


def test_workspace_sku(reference_plan: dict[str, Any]) -> None:
    assert one(reference_plan, WORKSPACE, f"{PREFIX}-law")["inputs"]["sku"]["name"] == "PerGB2018"


DIAGNOSED = [
    (f"{PREFIX}-blob-diagnostics", ACCOUNT, "aidatastorage", {"audit", "allLogs"}),
    (f"{PREFIX}-kv-diagnostics", VAULT, f"{PREFIX}-kv", {"audit", "allLogs"}),
    (f"{PREFIX}-workload-nsg-diagnostics", NSG, f"{PREFIX}-workload-nsg", {"allLogs"}),
    (f"{PREFIX}-pe-nsg-diagnostics", NSG, f"{PREFIX}-pe-nsg", {"allLogs"}),
]


@pytest.mark.parametrize(
    ("setting_name", "source_type", "source_name", "groups"), DIAGNOSED, ids=[d[0] for d in DIAGNOSED]
)
def test_diagnostic_setting(
    reference_plan: dict[str, Any], setting_name: str, source_type: str, source_name: str, groups: set[str]
) -> None:
    setting = one(reference_plan, DIAGNOSTICS, setting_name)
    logs = setting["inputs"]["logs"]
    assert {entry["categoryGroup"] for entry in logs} == groups
    assert all(entry["enabled"] is True for entry in logs)
    assert depends_via(setting, "resourceUri", one(reference_plan, source_type, source_name))
    assert depends_via(setting, "workspaceId", one(reference_plan, WORKSPACE, f"{PREFIX}-law"))
    assert setting["inputs"]["logAnalyticsDestinationType"] == "Dedicated"

