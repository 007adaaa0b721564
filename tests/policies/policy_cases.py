"""The bad (and a few good) cases: one mutation of the compliant baseline each.

A case names the policy it exercises, the role of the resource the finding must be reported on (the
target; its resource is named after the case), the mutation, and a precise substring of the
expected message. ``also`` lists findings the mutation must cause elsewhere in its copy, by design
(e.g. an ML workspace reports the storage account it uses when that account is opened up).
Cases whose id starts with ``pass-`` must produce no finding at all.

A case for a resource policy needs only its target resource, so it runs alone in a stack with the
stack policies off; every other case (``full``) runs in a full copy of the baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from policy_stack import (NETWORK_CONTRIBUTOR, OWNER, READER, RG_ID, STORAGE_ACCOUNT_CONTRIBUTOR, U, Mutation, Spec,
                          add, chain, delete, drop, endpoint, retype, rewire, role_assignment, role_id, set_,
                          zone_group)


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    target: str
    mutation: Mutation
    message: str = ""
    also: frozenset[tuple[str, str]] = frozenset()
    #: Run in a full copy of the baseline even though the policy is a resource policy.
    full: bool = False

    @property
    def passes(self) -> bool:
        return self.id.startswith("pass-")


def fail(policy: str, target: str, mutation: Mutation, message: str, *, variant: str = "",
         also: set[tuple[str, str]] | None = None, full: bool = False) -> Case:
    return Case(f"fail-{policy}" + (f"-{variant}" if variant else ""), policy, target, mutation, message,
                frozenset(also or ()), full)


def ok(name: str, target: str, mutation: Mutation, *, full: bool = False) -> Case:
    return Case(f"pass-{name}", "", target, mutation, full=full)


ML_USES = {("ml-associated-resources-compliant", "mlw")}
DAY = 86400
EXTERNAL_RG_ID = "/subscriptions/9/resourceGroups/shared"
DIAGNOSTIC_SETTINGS = ("diag-blob", "diag-kv", "diag-ml", "diag-acr", "diag-nsg-workload", "diag-nsg-pe")
ZONES = ("zone-blob", "zone-kv", "zone-api", "zone-notebooks")
LINKS = ("link-blob", "link-kv", "link-api", "link-notebooks")


def _rule(name: str, protocol: str, ports: str, source: str) -> dict:
    return {"name": name, "priority": 400, "direction": "Inbound", "access": "Allow", "protocol": protocol,
            "sourceAddressPrefix": source, "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": ports}


CASES: list[Case] = [
    # -- storage account -------------------------------------------------------------------------
    fail("storage-disallow-public-blob-access", "storage", set_("storage", "allowBlobPublicAccess", True),
         "may allow anonymous blob access (allowBlobPublicAccess is true); set it to false.", also=ML_USES),
    fail("storage-disallow-public-blob-access", "storage", delete("storage", "allowBlobPublicAccess"),
         "(allowBlobPublicAccess is not set, which older API versions treat as true)", variant="absent", also=ML_USES),
    fail("storage-disable-public-network-access", "storage", set_("storage", "publicNetworkAccess", "Enabled"),
         "allows public network access (publicNetworkAccess is 'Enabled'); set it to 'Disabled'.", also=ML_USES),
    fail("storage-network-default-deny", "storage", set_("storage", "networkRuleSet.defaultAction", "Allow"),
         "allows all networks through its firewall (networkRuleSet.defaultAction is 'Allow'); set it to 'Deny'."),
    fail("storage-network-no-public-ip-rules", "storage",
         set_("storage", "networkRuleSet.ipRules", [{"value": "203.0.113.0/24", "action": "Allow"}]),
         "lets traffic through its firewall with 1 IP rule(s)"),
    fail("storage-trusted-services-bypass", "storage", set_("storage", "networkRuleSet.bypass", "Logging, Metrics"),
         "(networkRuleSet.bypass is 'Logging, Metrics'); set it to 'AzureServices' or 'None'."),
    fail("storage-https-only", "storage", set_("storage", "enableHttpsTrafficOnly", False),
         "accepts plain HTTP (enableHttpsTrafficOnly is false); set it to true."),
    fail("storage-min-tls-1-2", "storage", set_("storage", "minimumTlsVersion", "TLS1_0"),
         "accepts TLS versions older than 1.2 (minimumTlsVersion is 'TLS1_0'); set it to 'TLS1_2'."),
    fail("storage-disable-shared-key", "storage", delete("storage", "allowSharedKeyAccess"),
         "accepts Shared Key authorization (allowSharedKeyAccess is not set, which Azure treats as true)",
         also=ML_USES),
    fail("storage-default-oauth-portal", "storage", set_("storage", "defaultToOAuthAuthentication", False),
         "(defaultToOAuthAuthentication is false); set it to true."),
    fail("storage-infrastructure-encryption", "storage",
         set_("storage", "encryption.requireInfrastructureEncryption", False),
         "does not use infrastructure encryption (encryption.requireInfrastructureEncryption is false)"),
    fail("storage-cmk-encryption", "storage", set_("storage", "encryption.keySource", "Microsoft.Storage"),
         "uses platform-managed keys (encryption.keySource is 'Microsoft.Storage')"),
    fail("storage-cross-tenant-replication-disabled", "storage", set_("storage", "allowCrossTenantReplication", True),
         "may replicate data to other tenants (allowCrossTenantReplication is true); set it to false."),
    fail("storage-local-users-sftp-disabled", "storage", set_("storage", "isLocalUserEnabled", True),
         "allows local users (isLocalUserEnabled is true); set it to false."),
    fail("storage-copy-scope-restricted", "storage", delete("storage", "allowedCopyScope"),
         "(allowedCopyScope is not set, which allows any source); set it to 'PrivateLink' or 'AAD'."),
    fail("storage-sas-expiration-policy", "storage", set_("storage", "sasPolicy.sasExpirationPeriod", "7.00:00:00"),
         "allows SAS tokens valid for '7.00:00:00' (sasPolicy.sasExpirationPeriod); set it to at most '0.01:00:00'."),
    fail("storage-key-expiration-policy", "storage", set_("storage", "keyPolicy.keyExpirationPeriodInDays", 365),
         "lets account keys live 365 days (keyPolicy.keyExpirationPeriodInDays); set it to at most 90."),
    fail("storage-geo-redundant", "storage", set_("storage", "sku.name", "Standard_LRS"),
         "is not geo-redundant (sku.name is 'Standard_LRS')"),
    fail("storage-kind-storagev2", "storage", set_("storage", "kind", "BlobStorage"),
         "is not a general-purpose v2 account (kind is 'BlobStorage'); set it to 'StorageV2'."),
    fail("storage-private-endpoint-required", "storage", drop("pe-blob", "zg-blob"),
         "has no private endpoint for 'blob'; add a network:PrivateEndpoint"),
    fail("storage-private-endpoint-required", "storage", set_("storage", "isHnsEnabled", True),
         "has no private endpoint for 'dfs'", variant="hns"),
    ok("storage-https-absent", "storage", delete("storage", "enableHttpsTrafficOnly")),
    ok("storage-bypass-none", "storage", set_("storage", "networkRuleSet.bypass", "None")),
    ok("storage-tls-1-3", "storage", set_("storage", "minimumTlsVersion", "TLS1_3")),
    # -- containers and blob service -------------------------------------------------------------
    fail("container-no-public-access", "container", set_("container", "publicAccess", "Blob"),
         "allows anonymous access (publicAccess is 'Blob'); set it to 'None'."),
    fail("container-immutable-storage", "container",
         set_("container", "immutableStorageWithVersioning.enabled", False), "is not immutable"),
    fail("container-encryption-scope-enforced", "container", set_("container", "denyEncryptionScopeOverride", False),
         "lets blobs override its encryption scope (denyEncryptionScopeOverride is false)"),
    fail("blob-soft-delete-enabled", "blob-service", set_("blob-service", "deleteRetentionPolicy.days", 3),
         "keeps deleted blobs for 3 days (deleteRetentionPolicy.days); keep them at least 7 days."),
    fail("container-soft-delete-enabled", "blob-service",
         set_("blob-service", "containerDeleteRetentionPolicy.enabled", False),
         "does not keep deleted containers (containerDeleteRetentionPolicy.enabled is false)"),
    fail("blob-versioning-enabled", "blob-service", set_("blob-service", "isVersioningEnabled", False),
         "does not keep blob versions (isVersioningEnabled is false)"),
    fail("blob-permanent-delete-disallowed", "blob-service",
         set_("blob-service", "deleteRetentionPolicy.allowPermanentDelete", True),
         "allows permanent deletion of soft-deleted data (deleteRetentionPolicy.allowPermanentDelete is true)"),
    fail("blob-change-feed-enabled", "blob-service", set_("blob-service", "changeFeed.retentionInDays", 30),
         "keeps its change feed 30 days (changeFeed.retentionInDays); keep it at least 90 days."),
    fail("blob-soft-delete-enabled", "storage", chain(drop("blob-service"), rewire("diag-blob", "resourceUri", ["storage"])),
         "declares no blob service properties, so deleted blobs are not kept", variant="no-blob-service",
         also={("container-soft-delete-enabled", "storage"), ("blob-versioning-enabled", "storage"),
               ("blob-change-feed-enabled", "storage")}),
    ok("container-public-access-absent", "container", delete("container", "publicAccess")),
    # -- key vault, keys, secrets ----------------------------------------------------------------
    fail("kv-rbac-authorization", "kv", set_("kv", "properties.enableRbacAuthorization", False),
         "uses access policies instead of RBAC (properties.enableRbacAuthorization is false)", also=ML_USES),
    fail("kv-no-access-policies", "kv", set_("kv", "properties.accessPolicies", [
        {"tenantId": "00000000-0000-0000-0000-000000000002", "objectId": "33333333-3333-4333-8333-333333333333",
         "permissions": {"secrets": ["get"]}}]),
         "declares 1 access policy (properties.accessPolicies)"),
    fail("kv-public-network-disabled", "kv", set_("kv", "properties.publicNetworkAccess", "enabled"),
         "allows public network access (properties.publicNetworkAccess is 'enabled'); set it to 'disabled'.",
         also=ML_USES),
    fail("kv-network-default-deny", "kv", set_("kv", "properties.networkAcls.ipRules", [{"value": "203.0.113.7"}]),
         "firewall is open (1 IP rule(s) are allowed in properties.networkAcls)"),
    fail("kv-purge-protection", "kv", delete("kv", "properties.enablePurgeProtection"),
         "(properties.enablePurgeProtection is not set, which Azure treats as false); set it to true.", also=ML_USES),
    fail("kv-soft-delete", "kv", set_("kv", "properties.softDeleteRetentionInDays", 3),
         "keeps deleted items 3 days (properties.softDeleteRetentionInDays); set it between 7 and 90."),
    fail("kv-private-endpoint-required", "kv", drop("pe-kv", "zg-kv"), "has no private endpoint for 'vault'"),
    fail("kv-private-endpoint-required", "kv", rewire("pe-kv", "privateLinkServiceConnections", ["kv", "storage"]),
         "connect to several resources and count for none", variant="shared-endpoint"),
    fail("kv-arm-access-flags-disabled", "kv", set_("kv", "properties.enabledForTemplateDeployment", True),
         "releases secrets to Azure services (enabledForTemplateDeployment is true)"),
    fail("kv-key-expiration", "key", delete("key", "properties.attributes.expires"),
         "never expires (properties.attributes.expires is not set); set an expiry within 365 days."),
    fail("kv-key-rotation-policy", "key",
         set_("key", "properties.rotationPolicy.lifetimeActions.0.trigger.timeAfterCreate", "P2Y"),
         "rotates only after 730 days (rotationPolicy.lifetimeActions); rotate within 365 days."),
    fail("kv-key-hsm-backed", "key", set_("key", "properties.kty", "RSA"),
         "is software-protected (properties.kty is 'RSA')"),
    fail("kv-key-strength", "key", set_("key", "properties.keySize", 1024),
         "is a 1024-bit RSA key (properties.keySize); use at least 2048 bits."),
    fail("kv-key-not-exportable", "key", set_("key", "properties.attributes.exportable", True),
         "is exportable (properties.attributes.exportable is true)"),
    fail("kv-secret-expiration", "secret", set_("secret", "properties.attributes.expires", int(time.time() + 800 * DAY)),
         "(properties.attributes.expires); set an expiry within 365 days."),
    fail("kv-secret-content-type", "secret", delete("secret", "properties.contentType"),
         "has no content type (properties.contentType is not set)"),
    ok("kv-public-network-disabled-capitalised", "kv", set_("kv", "properties.publicNetworkAccess", "Disabled"),
       full=True),
    # -- network ---------------------------------------------------------------------------------
    fail("vnet-subnets-private", "spoke", set_("spoke", "subnets.0.defaultOutboundAccess", True),
         "subnet 'training' has default outbound Internet access (subnets[0].defaultOutboundAccess is true)"),
    fail("vnet-ddos-protection", "vnet", set_("vnet", "enableDdosProtection", False),
         "has no DDoS protection (enableDdosProtection is false)"),
    fail("vnet-flow-logs", "vnet", drop("vnet-flow-log"), "has no flow log; declare a network:FlowLog"),
    fail("vnet-flow-logs", "spoke", set_("spoke-flow-log", "retentionPolicy.days", 30),
         "flow log 'fail-vnet-flow-logs-retention/spoke-flow-log' keeps logs 30 days", variant="retention"),
    fail("vnet-dns-azure-provided", "spoke", set_("spoke", "dhcpOptions.dnsServers", ["10.30.0.4", "8.8.8.8"]),
         "uses DNS servers outside the network (['8.8.8.8'] in dhcpOptions.dnsServers)"),
    fail("subnet-nsg-associated", "snet-workload",
         chain(delete("snet-workload", "networkSecurityGroup"), rewire("snet-workload", "networkSecurityGroup", [])),
         "has no network security group (networkSecurityGroup.id is not set)"),
    fail("subnet-nsg-associated", "spoke", delete("spoke", "subnets.0.networkSecurityGroup"),
         "subnet 'training' has no network security group (subnets[0].networkSecurityGroup.id is not set)",
         variant="inline"),
    fail("subnet-private-no-default-outbound", "snet-workload", delete("snet-workload", "defaultOutboundAccess"),
         "(defaultOutboundAccess is not set, which means true for network API versions before 2025-07-01)"),
    fail("subnet-pe-network-policies-enabled", "snet-pe",
         set_("snet-pe", "privateEndpointNetworkPolicies", "Disabled"),
         "does not apply its NSG to private endpoint traffic (privateEndpointNetworkPolicies is 'Disabled')"),
    fail("subnet-pe-network-policies-enabled", "spoke", delete("spoke", "subnets.0.privateEndpointNetworkPolicies"),
         "(subnets[0].privateEndpointNetworkPolicies is not set)", variant="inline"),
    fail("nsg-deny-rdp-from-internet", "nsg-workload",
         set_("nsg-workload", "securityRules.3", _rule("rdp", "Tcp", "3389", "Internet")),
         "rule 'rdp' allows Tcp port(s) 3389 from 'Internet', exposing RDP (3389) to the Internet"),
    fail("nsg-deny-rdp-from-internet", "nsg-workload",
         set_("nsg-workload", "securityRules.3", _rule("admin", "*", "3000-4000", "0.0.0.0/0")),
         "rule 'admin' allows * port(s) 3000-4000 from '0.0.0.0/0', exposing RDP (3389)", variant="range",
         also={("nsg-deny-udp-from-internet", "nsg-workload")}),
    fail("nsg-deny-ssh-from-internet", "rule-bastion-ssh", set_("rule-bastion-ssh", "sourceAddressPrefixes", ["*"]),
         "allows Tcp port(s) 22 from '*', exposing SSH (22) to the Internet"),
    fail("nsg-deny-udp-from-internet", "nsg-workload",
         set_("nsg-workload", "securityRules.3", _rule("dns", "Udp", "53", "*")),
         "rule 'dns' allows Udp port(s) 53 from '*', exposing UDP to the Internet"),
    fail("nsg-deny-http-from-internet", "nsg-pe",
         set_("nsg-pe", "securityRules.1", {**_rule("web", "Tcp", "", "Internet"), "destinationPortRange": None,
                                            "destinationPortRanges": ["8443", "443"]}),
         "rule 'web' allows Tcp port(s) 8443, 443 from 'Internet', exposing HTTP/HTTPS (80/443)"),
    fail("nsg-deny-any-inbound-from-internet", "nsg-pe",
         set_("nsg-pe", "securityRules.1", {**_rule("app", "Tcp", "8000-8100", ""), "sourceAddressPrefix": None,
                                            "sourceAddressPrefixes": ["10.0.0.0/8", "::/0"]}),
         "rule 'app' allows Tcp port(s) 8000-8100 from '::/0'; nothing in this platform is served"),
    ok("nsg-allow-from-virtual-network", "nsg-pe",
       set_("nsg-pe", "securityRules.1", _rule("ssh-from-vnet", "Tcp", "22", "VirtualNetwork"))),
    ok("nsg-deny-from-internet", "nsg-pe",
       set_("nsg-pe", "securityRules.1", {**_rule("deny", "*", "*", "Internet"), "access": "Deny"})),
    # -- private endpoints and DNS ---------------------------------------------------------------
    fail("pe-auto-approved-connection", "pe-blob", set_("pe-blob", "manualPrivateLinkServiceConnections", [
        {"name": "manual", "privateLinkServiceId": U, "groupIds": ["blob"], "requestMessage": "please"}]),
         "uses 1 manual connection(s) (manualPrivateLinkServiceConnections)"),
    fail("pe-auto-approved-connection", "pe-kv", chain(
        set_("pe-kv", "privateLinkServiceConnections.0.privateLinkServiceId",
             "/subscriptions/9/resourceGroups/x/providers/Microsoft.KeyVault/vaults/other"),
        rewire("pe-kv", "privateLinkServiceConnections", [])),
         "connects to '/subscriptions/9/resourceGroups/x/providers/Microsoft.KeyVault/vaults/other', which is not "
         "declared in this stack", variant="external", also={("kv-private-endpoint-required", "kv")}),
    fail("pe-correct-group-id", "pe-extra", chain(
        add("pe-extra", endpoint("storage", "vault")), add("zg-extra", zone_group("pe-extra", ["zone-blob"]))),
         "asks for group 'vault', which a storage account does not offer"),
    fail("pe-dns-zone-group", "pe-kv", drop("zg-kv"),
         "has no private DNS zone group; add a network:PrivateDnsZoneGroup for privatelink.vaultcore.azure.net"),
    fail("pe-dns-zone-group", "pe-ml", chain(
        set_("zg-ml", "privateDnsZoneConfigs", [{"name": "api", "privateDnsZoneId": U}]),
        rewire("zg-ml", "privateDnsZoneConfigs", ["zone-api"])),
         "does not include privatelink.notebooks.azure.net (it has privatelink.api.azureml.ms)", variant="missing-zone"),
    fail("pe-subnet-approved", "pe-blob", chain(
        set_("pe-blob", "subnet.id", "/subscriptions/9/resourceGroups/x/providers/Microsoft.Network/"
                                     "virtualNetworks/v/subnets/s"),
        rewire("pe-blob", "subnet", [])),
         "is in subnet '/subscriptions/9/resourceGroups/x/providers/Microsoft.Network/virtualNetworks/v/subnets/s', "
         "which is not declared in this stack"),
    fail("dns-zone-privatelink-name", "zone-kv", set_("zone-kv", "location", "westeurope"),
         "is in location 'westeurope'; set location to 'global'."),
    fail("dns-zone-privatelink-name", "zone-kv", set_("zone-kv", "privateZoneName", "vault.contoso.internal"),
         "is named 'vault.contoso.internal' (privateZoneName)", variant="name",
         also={("pe-dns-zone-group", "pe-kv")}),
    fail("dns-zone-vnet-linked", "zone-kv", drop("link-kv"), "is not linked to any virtual network"),
    fail("dns-zone-vnet-linked", "zone-blob", rewire("link-blob", "virtualNetwork", ["spoke"]),
         "is not linked to virtual network(s) 'fail-dns-zone-vnet-linked-consumer/vnet'", variant="consumer"),
    fail("dns-zone-link-no-autoregistration", "link-blob", set_("link-blob", "registrationEnabled", True),
         "auto-registers VM records in the zone (registrationEnabled is true); set it to false."),
    fail("dns-zone-link-no-public-fallback", "link-kv", set_("link-kv", "resolutionPolicy", "NxDomainRedirect"),
         "falls back to public DNS resolution (resolutionPolicy is 'NxDomainRedirect'); set it to 'Default'."),
    # -- role assignments and identities ---------------------------------------------------------
    fail("rbac-no-privileged-roles-for-workloads", "ra-group-reader",
         set_("ra-group-reader", "roleDefinitionId", role_id(OWNER)),
         f"grants Owner ({OWNER}); privileged roles are never given to workloads"),
    fail("rbac-no-privileged-roles-for-workloads", "ra-group-reader",
         set_("ra-group-reader", "roleDefinitionId", role_id(OWNER.upper()).replace("roleDefinitions", "ROLEDEFINITIONS")),
         f"grants Owner ({OWNER})", variant="upper-case"),
    fail("rbac-scope-resource-group-or-narrower", "ra-rg-reader", chain(
        set_("ra-rg-reader", "scope", "/subscriptions/00000000-0000-0000-0000-000000000001"),
        rewire("ra-rg-reader", "scope", [])),
         "is scoped to '/subscriptions/00000000-0000-0000-0000-000000000001', broader than a resource group"),
    fail("rbac-scope-resource-group-or-narrower", "ra-rg-reader", chain(
        add("subscription", Spec("azure-native:subscription:Alias", {"workload": "Production"})),
        rewire("ra-rg-reader", "scope", ["subscription"])),
         "is scoped to Alias 'fail-rbac-scope-resource-group-or-narrower-subscription/subscription', broader than a "
         "resource group", variant="subscription"),
    fail("rbac-data-roles-allowlist", "ra-group-reader",
         set_("ra-group-reader", "roleDefinitionId", role_id(NETWORK_CONTRIBUTOR)),
         f"grants Network Contributor ({NETWORK_CONTRIBUTOR}), which is not on the allow-list"),
    fail("rbac-no-key-listing-or-data-owner-roles", "ra-group-reader",
         set_("ra-group-reader", "roleDefinitionId", role_id(STORAGE_ACCOUNT_CONTRIBUTOR)),
         "grants Storage Account Contributor (17d1049b-9a84-46fb-8f53-869881c3d3ab), which can list keys"),
    fail("rbac-principal-type-explicit", "ra-group-reader", set_("ra-group-reader", "principalType", "User"),
         "has principalType 'User' (the SDK's default when it is omitted)"),
    fail("rbac-data-role-scoped-to-resource", "ra-group-reader", rewire("ra-group-reader", "scope", ["rg"]),
         "grants Storage Blob Data Reader at Resource group 'fail-rbac-data-role-scoped-to-resource/rg'; scope it "
         "to the storage account or container"),
    fail("rbac-data-role-scoped-to-resource", "ra-literal-scope",
         set_("ra-literal-scope", "scope", "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-data"),
         "grants Storage Blob Data Contributor at '/subscriptions/00000000-0000-0000-0000-000000000001/"
         "resourceGroups/rg-data'", variant="literal"),
    fail("uami-least-privilege-footprint", "uami", chain(*(
        add(f"ra-extra-{i}", role_assignment(READER, "rg", "uami")) for i in range(3))),
         "holds 6 role grants"),
    fail("uami-least-privilege-footprint", "uami", set_("ra-secrets-user", "principalType", "Group"),
         "is granted roles by assignments typed for another kind of principal: "
         "'fail-uami-least-privilege-footprint-typed/ra-secrets-user' ('Group')", variant="typed"),
    fail("uami-federated-credential-trusted", "fic", set_("fic", "subject", "repo:contoso/*"),
         "is not trusted: subject 'repo:contoso/*' is not pinned to one workload"),
    fail("uami-federated-credential-trusted", "fic", set_("fic", "issuer", "https://issuer.example.com"),
         "issuer 'https://issuer.example.com' is not in config allowedIssuers", variant="issuer"),
    # -- diagnostics -----------------------------------------------------------------------------
    fail("diag-kv-audit-logs", "kv", set_("diag-kv", "logs", [{"category": "AzurePolicyEvaluationDetails",
                                                               "enabled": True}]),
         "diagnostic setting(s) 'fail-diag-kv-audit-logs/diag-kv' do not send its audit logs"),
    fail("diag-kv-audit-logs", "kv", drop("diag-kv"), "has no diagnostic setting, so its audit logs are not kept",
         variant="missing"),
    fail("diag-storage-blob-logs", "storage", set_("diag-blob", "logs", [{"category": "StorageRead", "enabled": True}]),
         "do not send its blob read/write/delete logs"),
    fail("diag-ml-workspace-logs", "mlw", drop("diag-ml"), "has no diagnostic setting, so its resource logs"),
    fail("diag-nsg-logs", "nsg-pe", set_("diag-nsg-pe", "logs.0.enabled", False),
         "do not send its event and rule-counter logs"),
    fail("diag-destination-central-law", "diag-blob", set_("diag-blob", "storageAccountId", f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/logs"),
         "storageAccountId sends a copy outside the workspace"),
    fail("diag-destination-central-law", "diag-kv", delete("diag-kv", "logAnalyticsDestinationType"),
         "logAnalyticsDestinationType is not set, so logs land in the shared AzureDiagnostics table",
         variant="shared-table"),
    ok("diag-nsg-shared-table-only", "diag-nsg-pe", delete("diag-nsg-pe", "logAnalyticsDestinationType"), full=True),
    fail("diag-coverage", "acr", drop("diag-acr"), "Container registry 'fail-diag-coverage' has no diagnostic setting"),
    fail("diag-no-legacy-retention", "diag-kv", set_("diag-kv", "logs.0.retentionPolicy", {"enabled": True, "days": 30}),
         "sets a retired retention policy on logs[0] (retentionPolicy is enabled true, days 30)"),
    # -- machine learning ------------------------------------------------------------------------
    fail("ml-public-network-disabled", "mlw", set_("mlw", "publicNetworkAccess", "Enabled"),
         "allows public network access (publicNetworkAccess is 'Enabled'); set it to 'Disabled'."),
    fail("ml-private-endpoint-required", "mlw", drop("pe-ml", "zg-ml"), "has no private endpoint for 'amlworkspace'"),
    fail("ml-managed-network-isolation", "mlw", set_("mlw", "managedNetwork.isolationMode", "AllowInternetOutbound"),
         "does not restrict outbound traffic (managedNetwork.isolationMode is 'AllowInternetOutbound')"),
    fail("ml-identity-based-datastores", "mlw", set_("mlw", "systemDatastoresAuthMode", "AccessKey"),
         "reaches its datastores with account keys (systemDatastoresAuthMode is 'AccessKey')"),
    fail("ml-user-assigned-identity", "mlw", set_("mlw", "identity.type", "SystemAssigned"),
         "does not run as a user-assigned identity (identity.type is 'SystemAssigned')"),
    fail("ml-cmk-encryption", "mlw", set_("mlw", "encryption.status", "Disabled"),
         "uses Microsoft-managed keys (encryption.status is 'Disabled')"),
    fail("ml-hbi-workspace", "mlw", set_("mlw", "hbiWorkspace", False),
         "is not flagged high business impact (hbiWorkspace is false)"),
    fail("ml-no-public-access-behind-vnet", "mlw", set_("mlw", "allowPublicAccessWhenBehindVnet", True),
         "re-opens public access (allowPublicAccessWhenBehindVnet is true)"),
    fail("ml-associated-resources-compliant", "mlw", chain(
        set_("mlw", "storageAccount", f"{EXTERNAL_RG_ID}/providers/Microsoft.Storage/storageAccounts/shared"),
        rewire("mlw", "storageAccount", [])),
         "storageAccount '/subscriptions/9/resourceGroups/shared/providers/Microsoft.Storage/storageAccounts/shared' "
         "is not declared in this stack"),
    fail("ml-associated-resources-compliant", "mlw", set_("acr", "adminUserEnabled", True),
         "container registry 'fail-ml-associated-resources-compliant-registry/acr': the admin user is enabled",
         variant="registry"),
    # -- coverage: what the pack can't see into is blocked ----------------------------------------
    fail("unevaluated-resource-provider", "dynamic",
         add("dynamic", Spec("pulumi-python:dynamic:Resource", {"__provider": "opaque", "name": "x"})),
         "of type 'pulumi-python:dynamic:Resource' is not evaluated by this pack: it is a dynamic provider"),
    # -- type tokens: API-versioned modules and the v2 aliases match too --------------------------
    fail("storage-https-only", "storage", chain(
        retype("storage", "azure-native:storage/v20230501:StorageAccount"),
        set_("storage", "enableHttpsTrafficOnly", False)),
         "accepts plain HTTP (enableHttpsTrafficOnly is false)", variant="versioned-token", full=True),
    fail("diag-kv-audit-logs", "kv", chain(
        *(retype(d, "azure-native:insights:DiagnosticSetting") for d in DIAGNOSTIC_SETTINGS),
        set_("diag-kv", "logs", [{"category": "AzurePolicyEvaluationDetails", "enabled": True}])),
         "do not send its audit logs", variant="v2-alias"),
    fail("dns-zone-link-no-autoregistration", "link-blob", chain(
        *(retype(z, "azure-native:network:PrivateZone") for z in ZONES),
        *(retype(link, "azure-native:network:VirtualNetworkLink") for link in LINKS),
        set_("link-blob", "registrationEnabled", True)),
         "auto-registers VM records in the zone", variant="v2-alias", full=True),
]


# -- running cases outside CASES (the issue-12 files: exposure, grants, endpoints) -------------------

def evaluate_cases(cases: list[Case], config: dict | None = None):
    """Every case in its own full copy of the baseline, every policy mandatory unless ``config`` says otherwise."""
    from crossgate.testing import evaluate
    from policy_stack import REPO_PACK, materialize, mutated

    assert len({c.id for c in cases}) == len(cases), "case ids must be unique"
    resources = []
    for case in cases:
        resources += materialize(mutated(case.mutation), case.id, case.target)
    return evaluate(REPO_PACK, resources, config=config or {"all": "mandatory"}, parallel=2)


def assert_case(gate, case: Case) -> None:
    """Exactly the case's finding (and its ``also``) in its copy, none for a ``pass-`` case, nothing undecided."""
    from collections import Counter

    from crossgate.model import Level

    def belongs(name: str) -> bool:
        return name == case.id or name.startswith(case.id + "/")

    def role(name: str) -> str:
        return case.target if name == case.id else name.split("/", 1)[1]

    assert gate.errors == ()
    undecided = [f for f in gate.indeterminate if belongs(f.name) or f"(resource '{case.id}" in f.message]
    assert [(f.policy, f.name, f.message) for f in undecided] == []
    findings = [f for f in gate.violations if belongs(f.name)]
    reported = Counter((f.policy, role(f.name)) for f in findings)
    if case.passes:
        assert reported == Counter(), [f.message for f in findings]
        return
    assert reported == Counter({(case.policy, case.target): 1, **{pair: 1 for pair in case.also}}), \
        [f.message for f in findings]
    (finding,) = [f for f in findings if f.policy == case.policy and f.name == case.id]
    assert case.message in finding.message, finding.message
    assert f"'{case.id}'" in finding.message, "the message names the resource"
    assert finding.level is Level.MANDATORY
