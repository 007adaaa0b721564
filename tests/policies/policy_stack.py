"""A compliant baseline stack for the policy pack, and one-field mutations of it.

The baseline declares one compliant resource of every type the pack covers, wired together the way
a real program is: every value that comes from another resource's output is unknown (as in a first
preview) and recorded as a property dependency. Resources are keyed by a *role* ("storage",
"pe-blob", ...). A mutation changes one thing in a copy of the baseline; :func:`materialize`
turns a copy into crossgate test resources, naming the mutated target after the expected outcome
(``fail-storage-https-only``) and every other resource ``<case>/<role>``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from crossgate.testing import Resource
from crossgate.wire import UNKNOWN, make_secret

U = UNKNOWN
DAY = 86400
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
RG_ID = f"{SUB}/resourceGroups/rg-data"


def role_id(guid: str) -> str:
    return f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"


@dataclass
class Spec:
    """One resource of the baseline: type, inputs, and which roles each input was computed from."""

    type: str
    props: dict[str, Any]
    deps: dict[str, list[str]] = field(default_factory=dict)


Stack = dict[str, Spec]
Mutation = Callable[[Stack], None]


def deny_internet_rule() -> dict[str, Any]:
    return {"name": "deny-internet-inbound", "priority": 100, "direction": "Inbound", "access": "Deny",
            "protocol": "*", "sourceAddressPrefix": "Internet", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "*"}


def diagnostics(target: str, groups: list[str]) -> Spec:
    return Spec("azure-native:monitor:DiagnosticSetting", {
        "resourceUri": U, "workspaceId": U, "logAnalyticsDestinationType": "Dedicated",
        "logs": [{"categoryGroup": g, "enabled": True} for g in groups],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }, {"resourceUri": [target], "workspaceId": ["law"]})


def endpoint(target: str, group: str) -> Spec:
    return Spec("azure-native:network:PrivateEndpoint", {
        "resourceGroupName": U, "location": "westeurope", "subnet": {"id": U},
        "privateLinkServiceConnections": [{"name": f"{group}-connection", "privateLinkServiceId": U,
                                           "groupIds": [group]}],
    }, {"resourceGroupName": ["rg"], "subnet": ["snet-pe"], "privateLinkServiceConnections": [target]})


def zone(name: str) -> Spec:
    return Spec("azure-native:privatedns:PrivateZone",
                {"resourceGroupName": U, "location": "global", "privateZoneName": name}, {"resourceGroupName": ["rg"]})


def link(zone: str) -> Spec:
    return Spec("azure-native:privatedns:VirtualNetworkLink", {
        "resourceGroupName": U, "location": "global", "privateZoneName": U, "virtualNetwork": {"id": U},
        "registrationEnabled": False, "resolutionPolicy": "Default",
    }, {"resourceGroupName": ["rg"], "privateZoneName": [zone], "virtualNetwork": ["vnet"]})


def zone_group(endpoint: str, zones: list[str]) -> Spec:
    return Spec("azure-native:network:PrivateDnsZoneGroup", {
        "resourceGroupName": U, "privateEndpointName": U, "privateDnsZoneGroupName": "default",
        "privateDnsZoneConfigs": [{"name": z, "privateDnsZoneId": U} for z in zones],
    }, {"resourceGroupName": ["rg"], "privateEndpointName": [endpoint], "privateDnsZoneConfigs": list(zones)})


def role_assignment(role: str, scope: str | None, principal: str | None, principal_type: str = "ServicePrincipal"
                     ) -> Spec:
    deps: dict[str, list[str]] = {}
    props: dict[str, Any] = {"roleDefinitionId": role_id(role), "principalType": principal_type}
    if scope:
        props["scope"] = U
        deps["scope"] = [scope]
    if principal:
        props["principalId"] = U
        deps["principalId"] = [principal]
    else:
        props["principalId"] = "11111111-1111-4111-8111-111111111111"
    return Spec("azure-native:authorization:RoleAssignment", props, deps)


def flow_log(vnet: str) -> Spec:
    return Spec("azure-native:network:FlowLog", {
        "resourceGroupName": "NetworkWatcherRG", "networkWatcherName": "NetworkWatcher_westeurope",
        "targetResourceId": U, "enabled": True,
        # The flow-log archive lives in the central logging subscription, outside this stack.
        "storageId": "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/logs/providers/"
                     "Microsoft.Storage/storageAccounts/flowlogs",
        "retentionPolicy": {"enabled": True, "days": 90},
        "flowAnalyticsConfiguration": {"networkWatcherFlowAnalyticsConfiguration": {
            "enabled": True, "workspaceResourceId": U, "trafficAnalyticsInterval": 10}},
    }, {"targetResourceId": [vnet], "flowAnalyticsConfiguration": ["law"]})


def baseline() -> Stack:
    """Every resource type the pack covers, fully compliant (with every policy enabled)."""
    now = time.time()
    return {
        "rg": Spec("azure-native:resources:ResourceGroup", {"location": "westeurope"}),
        "law": Spec("azure-native:operationalinsights:Workspace", {
            "resourceGroupName": U, "location": "westeurope", "sku": {"name": "PerGB2018"}, "retentionInDays": 365,
        }, {"resourceGroupName": ["rg"]}),
        "ddos": Spec("azure-native:network:DdosProtectionPlan", {"resourceGroupName": U, "location": "westeurope"},
                     {"resourceGroupName": ["rg"]}),
        "vnet": Spec("azure-native:network:VirtualNetwork", {
            "resourceGroupName": U, "location": "westeurope", "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "enableDdosProtection": True, "ddosProtectionPlan": {"id": U}, "enableVmProtection": False,
        }, {"resourceGroupName": ["rg"], "ddosProtectionPlan": ["ddos"]}),
        "vnet-flow-log": flow_log("vnet"),
        # A second VNet whose subnets are declared inline, with a resolver inside the network.
        "spoke": Spec("azure-native:network:VirtualNetwork", {
            "resourceGroupName": U, "location": "westeurope", "addressSpace": {"addressPrefixes": ["10.30.0.0/16"]},
            "enableDdosProtection": True, "ddosProtectionPlan": {"id": U},
            "dhcpOptions": {"dnsServers": ["10.30.0.4", "168.63.129.16"]},
            "subnets": [
                {"name": "training", "addressPrefix": "10.30.1.0/24", "defaultOutboundAccess": False,
                 "privateEndpointNetworkPolicies": "Enabled", "privateLinkServiceNetworkPolicies": "Enabled",
                 "networkSecurityGroup": {"id": U}},
                {"name": "GatewaySubnet", "addressPrefix": "10.30.255.0/27",
                 "privateEndpointNetworkPolicies": "Disabled"},
            ],
        }, {"resourceGroupName": ["rg"], "ddosProtectionPlan": ["ddos"], "subnets": ["nsg-workload"]}),
        "spoke-flow-log": flow_log("spoke"),
        "nsg-workload": Spec("azure-native:network:NetworkSecurityGroup", {
            "resourceGroupName": U, "location": "westeurope",
            "securityRules": [
                deny_internet_rule(),
                {"name": "allow-vnet-https", "priority": 200, "direction": "Inbound", "access": "Allow",
                 "protocol": "Tcp", "sourceAddressPrefix": "VirtualNetwork", "sourcePortRange": "*",
                 "destinationAddressPrefix": "*", "destinationPortRanges": ["443"]},
                {"name": "allow-any-outbound", "priority": 300, "direction": "Outbound", "access": "Allow",
                 "protocol": "*", "sourceAddressPrefix": "*", "sourcePortRange": "*",
                 "destinationAddressPrefix": "Internet", "destinationPortRange": "*"},
            ],
        }, {"resourceGroupName": ["rg"]}),
        "nsg-pe": Spec("azure-native:network:NetworkSecurityGroup", {
            "resourceGroupName": U, "location": "westeurope", "securityRules": [deny_internet_rule()],
        }, {"resourceGroupName": ["rg"]}),
        "rule-bastion-ssh": Spec("azure-native:network:SecurityRule", {
            "resourceGroupName": U, "networkSecurityGroupName": U, "priority": 150, "direction": "Inbound",
            "access": "Allow", "protocol": "Tcp", "sourceAddressPrefixes": ["10.20.250.0/26"], "sourcePortRange": "*",
            "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "22",
        }, {"resourceGroupName": ["rg"], "networkSecurityGroupName": ["nsg-workload"]}),
        "snet-workload": Spec("azure-native:network:Subnet", {
            "resourceGroupName": U, "virtualNetworkName": U, "addressPrefix": "10.20.1.0/24",
            "defaultOutboundAccess": False, "privateEndpointNetworkPolicies": "Enabled",
            "privateLinkServiceNetworkPolicies": "Enabled", "networkSecurityGroup": {"id": U},
        }, {"resourceGroupName": ["rg"], "virtualNetworkName": ["vnet"], "networkSecurityGroup": ["nsg-workload"]}),
        "snet-pe": Spec("azure-native:network:Subnet", {
            "resourceGroupName": U, "virtualNetworkName": U, "addressPrefix": "10.20.2.0/24", "subnetName": "pe",
            "defaultOutboundAccess": False, "privateEndpointNetworkPolicies": "NetworkSecurityGroupEnabled",
            "privateLinkServiceNetworkPolicies": "Enabled", "networkSecurityGroup": {"id": U},
        }, {"resourceGroupName": ["rg"], "virtualNetworkName": ["vnet"], "networkSecurityGroup": ["nsg-pe"]}),
        "snet-gateway": Spec("azure-native:network:Subnet", {
            "resourceGroupName": U, "virtualNetworkName": U, "addressPrefix": "10.20.255.0/27",
            "subnetName": "GatewaySubnet", "defaultOutboundAccess": False,
            "privateEndpointNetworkPolicies": "Disabled",
        }, {"resourceGroupName": ["rg"], "virtualNetworkName": ["vnet"]}),
        "uami": Spec("azure-native:managedidentity:UserAssignedIdentity",
                     {"resourceGroupName": U, "location": "westeurope"}, {"resourceGroupName": ["rg"]}),
        "fic": Spec("azure-native:managedidentity:FederatedIdentityCredential", {
            "resourceGroupName": U, "resourceName": U, "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:contoso/training:environment:prod", "audiences": ["api://AzureADTokenExchange"],
        }, {"resourceGroupName": ["rg"], "resourceName": ["uami"]}),
        "storage": Spec("azure-native:storage:StorageAccount", {
            "resourceGroupName": U, "location": "westeurope", "accountName": "aidatast01", "kind": "StorageV2",
            "sku": {"name": "Standard_GZRS"}, "accessTier": "Hot",
            "allowBlobPublicAccess": False, "publicNetworkAccess": "Disabled", "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": False, "defaultToOAuthAuthentication": True,
            "allowCrossTenantReplication": False, "isLocalUserEnabled": False, "isSftpEnabled": False,
            "allowedCopyScope": "PrivateLink",
            "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
            "sasPolicy": {"sasExpirationPeriod": "0.01:00:00", "expirationAction": "Block"},
            "keyPolicy": {"keyExpirationPeriodInDays": 90},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": [U]},
            "encryption": {
                "keySource": "Microsoft.Keyvault", "requireInfrastructureEncryption": True,
                "keyVaultProperties": {"keyVaultUri": U, "keyName": "storage-cmk"},
                "encryptionIdentity": {"encryptionUserAssignedIdentity": U},
            },
        }, {"resourceGroupName": ["rg"], "identity": ["uami"], "encryption": ["kv", "uami"]}),
        "blob-service": Spec("azure-native:storage:BlobServiceProperties", {
            "resourceGroupName": U, "accountName": U, "blobServicesName": "default", "isVersioningEnabled": True,
            "deleteRetentionPolicy": {"enabled": True, "days": 14, "allowPermanentDelete": False},
            "containerDeleteRetentionPolicy": {"enabled": True, "days": 14},
            "changeFeed": {"enabled": True, "retentionInDays": 90},
        }, {"resourceGroupName": ["rg"], "accountName": ["storage"]}),
        "container": Spec("azure-native:storage:BlobContainer", {
            "resourceGroupName": U, "accountName": U, "containerName": "training-data", "publicAccess": "None",
            "immutableStorageWithVersioning": {"enabled": True},
            "defaultEncryptionScope": "training", "denyEncryptionScopeOverride": True,
        }, {"resourceGroupName": ["rg"], "accountName": ["storage"]}),
        "kv": Spec("azure-native:keyvault:Vault", {
            "resourceGroupName": U, "location": "westeurope", "vaultName": "aidata-kv-01",
            "properties": {
                "tenantId": "00000000-0000-0000-0000-000000000002", "sku": {"family": "A", "name": "premium"},
                "enableRbacAuthorization": True, "publicNetworkAccess": "disabled", "enablePurgeProtection": True,
                "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enabledForDeployment": False,
                "enabledForTemplateDeployment": False, "enabledForDiskEncryption": False,
                "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            },
        }, {"resourceGroupName": ["rg"]}),
        "key": Spec("azure-native:keyvault:Key", {
            "resourceGroupName": U, "vaultName": U, "keyName": "storage-cmk",
            "properties": {
                "kty": "RSA-HSM", "keySize": 3072, "keyOps": ["wrapKey", "unwrapKey"],
                "attributes": {"enabled": True, "exportable": False, "expires": now + 180 * DAY},
                "rotationPolicy": {
                    "attributes": {"expiryTime": "P1Y"},
                    "lifetimeActions": [
                        {"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P90D"}},
                        {"action": {"type": "notify"}, "trigger": {"timeBeforeExpiry": "P30D"}},
                    ],
                },
            },
        }, {"resourceGroupName": ["rg"], "vaultName": ["kv"]}),
        "secret": Spec("azure-native:keyvault:Secret", {
            "resourceGroupName": U, "vaultName": U, "secretName": "feature-store-token",
            "properties": {"value": make_secret("s3cr3t"), "contentType": "text/plain",
                           "attributes": {"enabled": True, "expires": int(now + 90 * DAY)}},
        }, {"resourceGroupName": ["rg"], "vaultName": ["kv"]}),
        "acr": Spec("azure-native:containerregistry:Registry", {
            "resourceGroupName": U, "location": "westeurope", "sku": {"name": "Premium"},
            "adminUserEnabled": False, "publicNetworkAccess": "Disabled",
        }, {"resourceGroupName": ["rg"]}),
        "mlw": Spec("azure-native:machinelearningservices:Workspace", {
            "resourceGroupName": U, "location": "westeurope", "workspaceName": "aidata-mlw",
            "publicNetworkAccess": "Disabled", "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"},
            "systemDatastoresAuthMode": "Identity", "hbiWorkspace": True, "allowPublicAccessWhenBehindVnet": False,
            "identity": {"type": "UserAssigned", "userAssignedIdentities": [U]}, "primaryUserAssignedIdentity": U,
            "encryption": {"status": "Enabled", "keyVaultProperties": {"keyVaultArmId": U, "keyIdentifier": U},
                           "identity": {"userAssignedIdentity": U}},
            "storageAccount": U, "keyVault": U, "containerRegistry": U,
        }, {"resourceGroupName": ["rg"], "identity": ["uami"], "primaryUserAssignedIdentity": ["uami"],
            "encryption": ["kv", "key", "uami"], "storageAccount": ["storage"], "keyVault": ["kv"],
            "containerRegistry": ["acr"]}),
        # Private endpoints and their DNS, one set per service.
        "pe-blob": endpoint("storage", "blob"),
        "zone-blob": zone("privatelink.blob.core.windows.net"),
        "link-blob": link("zone-blob"),
        "zg-blob": zone_group("pe-blob", ["zone-blob"]),
        "pe-kv": endpoint("kv", "vault"),
        "zone-kv": zone("privatelink.vaultcore.azure.net"),
        "link-kv": link("zone-kv"),
        "zg-kv": zone_group("pe-kv", ["zone-kv"]),
        "pe-ml": endpoint("mlw", "amlworkspace"),
        "zone-api": zone("privatelink.api.azureml.ms"),
        "zone-notebooks": zone("privatelink.notebooks.azure.net"),
        "link-api": link("zone-api"),
        "link-notebooks": link("zone-notebooks"),
        "zg-ml": zone_group("pe-ml", ["zone-api", "zone-notebooks"]),
        # Logs.
        "diag-blob": diagnostics("blob-service", ["audit", "allLogs"]),
        "diag-kv": diagnostics("kv", ["audit"]),
        "diag-ml": diagnostics("mlw", ["allLogs"]),
        "diag-acr": diagnostics("acr", ["allLogs"]),
        "diag-nsg-workload": diagnostics("nsg-workload", ["allLogs"]),
        "diag-nsg-pe": diagnostics("nsg-pe", ["allLogs"]),
        # Role assignments: the training identity's data roles, a group of readers, and narrow scopes.
        "ra-blob-reader": role_assignment(BLOB_DATA_READER, "container", "uami"),
        "ra-secrets-user": role_assignment(SECRETS_USER, "kv", "uami"),
        "ra-acr-pull": role_assignment(ACR_PULL, "acr", "uami"),
        "ra-group-reader": role_assignment(BLOB_DATA_READER, "container", None, "Group"),
        "ra-rg-reader": role_assignment(READER, "rg", None, "Group"),
        "ra-literal-scope": Spec("azure-native:authorization:RoleAssignment", {
            "roleDefinitionId": role_id(BLOB_DATA_CONTRIBUTOR), "principalType": "Group",
            "principalId": "22222222-2222-4222-8222-222222222222",
            "scope": f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/aidatast01/blobServices/default/"
                     "containers/training-data",
        }),
    }


# -- mutations ---------------------------------------------------------------------------------

def _walk(container: Any, path: str) -> tuple[Any, str | int]:
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        container = container[key]
    return container, keys[-1]


def set_(role: str, path: str, value: Any) -> Mutation:
    def mutate(stack: Stack) -> None:
        parent, key = _walk(stack[role].props, path)
        if isinstance(parent, list) and key == len(parent):
            parent.append(value)
        else:
            parent[key] = value
    return mutate


def delete(role: str, path: str) -> Mutation:
    def mutate(stack: Stack) -> None:
        parent, key = _walk(stack[role].props, path)
        del parent[key]
    return mutate


def retype(role: str, type_token: str) -> Mutation:
    def mutate(stack: Stack) -> None:
        stack[role].type = type_token
    return mutate


def rewire(role: str, prop: str, roles: list[str]) -> Mutation:
    """Make ``role.<prop>`` computed from ``roles`` (none: a literal or absent value)."""
    def mutate(stack: Stack) -> None:
        if roles:
            stack[role].deps[prop] = list(roles)
        else:
            stack[role].deps.pop(prop, None)
    return mutate


def drop(*roles: str) -> Mutation:
    def mutate(stack: Stack) -> None:
        for role in roles:
            del stack[role]
    return mutate


def add(role: str, spec: Spec) -> Mutation:
    def mutate(stack: Stack) -> None:
        stack[role] = copy.deepcopy(spec)
    return mutate


def chain(*mutations: Mutation) -> Mutation:
    def mutate(stack: Stack) -> None:
        for m in mutations:
            m(stack)
    return mutate


# -- materializing -----------------------------------------------------------------------------

def names_for(stack: Stack, case: str | None, target: str | None) -> dict[str, str]:
    if case is None:
        return {role: role for role in stack}
    return {role: case if role == target else f"{case}/{role}" for role in stack}


def materialize(stack: Stack, case: str | None = None, target: str | None = None) -> list[Resource]:
    """Crossgate test resources for a stack; see the module docstring for names."""
    names = names_for(stack, case, target)
    return [Resource(spec.type, names[role], copy.deepcopy(spec.props),
                     property_dependencies={p: [names[r] for r in rs] for p, rs in spec.deps.items()})
            for role, spec in stack.items()]


def materialize_alone(stack: Stack, case: str, target: str) -> list[Resource]:
    """Only the target, without relations: enough for resource policies, which see one resource."""
    spec = stack[target]
    return [Resource(spec.type, case, copy.deepcopy(spec.props))]


def mutated(mutation: Mutation | None) -> Stack:
    stack = baseline()
    if mutation is not None:
        mutation(stack)
    return stack


#: The pack under test.
REPO_PACK = str(Path(__file__).resolve().parents[2] / "policies")
