"""Generates Pulumi Python programs (azure-native) of about N resources for the benchmark.

The resources carry their properties as the reference platform (``infra/``) sets them: nested
objects, lists of objects, integers, booleans, tags, and outputs that stay unknown in a preview.
A program is a number of *landing zones*; each has shared networking and logging (resource group,
Log Analytics workspace, VNet, an NSG with rules, the private-endpoint subnet, two ``privatelink.*``
DNS zones with their VNet links, a user-assigned identity: 10 resources) and up to
``UNITS_PER_ZONE`` *workload units* of 13 resources wired together with outputs:

* storage account (encryption, TLS, key and SAS policies, network rules), its blob service
  properties and a private container;
* key vault (RBAC, purge protection, network ACLs);
* a private endpoint + DNS zone group for the account's ``blob`` and for the vault;
* two role assignments (blob reader on the container, secrets user on the vault);
* diagnostic settings for the blob service and the vault;
* an NSG for the unit's compute, with inbound and outbound rules.

As in a real estate, not every unit is compliant: one unit in five drifts in one place (TLS 1.0 on
the account, a vault open to the internet without purge protection, SSH open from the internet,
public containers, diagnostics without audit logs), so the pack reports findings as it would on a
user's large stack.

Plus the root stack and the default provider, which both crossgate and the SDK register.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

UNIT_RESOURCES = 13
ZONE_RESOURCES = 10
UNITS_PER_ZONE = 10
FIXED_RESOURCES = 2  # pulumi:pulumi:Stack and the default azure-native provider
STACK = "bench"


@dataclass(frozen=True)
class Layout:
    units: int

    @property
    def zones(self) -> int:
        return max(1, math.ceil(self.units / UNITS_PER_ZONE))

    @property
    def resources(self) -> int:
        """Everything registered, including the stack and the default provider."""
        return self.units * UNIT_RESOURCES + self.zones * ZONE_RESOURCES + FIXED_RESOURCES


def layout_for(target: int) -> Layout:
    """The layout whose resource count is closest to ``target``."""
    best = Layout(1)
    for units in range(1, max(2, target // UNIT_RESOURCES + 2)):
        candidate = Layout(units)
        if abs(candidate.resources - target) < abs(best.resources - target):
            best = candidate
    return best


PROGRAM_MAIN = '''\
"""Benchmark program: {units} workload units in {zones} landing zones ({resources} resources)."""

import pulumi
from pulumi_azure_native import authorization

from platform_unit import create_landing_zone, create_workload

UNITS = {units}
UNITS_PER_ZONE = {units_per_zone}

config = pulumi.Config()
prefix = config.get("namePrefix") or "bench"
location = config.get("location") or "westeurope"

client = authorization.get_client_config()

endpoints = []
for z in range(({units} + UNITS_PER_ZONE - 1) // UNITS_PER_ZONE):
    zone = create_landing_zone(f"{{prefix}}-lz{{z:03d}}", location, z)
    first = z * UNITS_PER_ZONE
    for u in range(first, min(UNITS, first + UNITS_PER_ZONE)):
        unit = create_workload(f"{{prefix}}-w{{u:05d}}", location, zone, client.subscription_id,
                               client.tenant_id, u)
        if u < 5:
            endpoints.append(unit.account.primary_endpoints.apply(lambda e: e.blob if e else None))

pulumi.export("units", UNITS)
pulumi.export("firstBlobEndpoints", endpoints)
'''

PROGRAM_UNIT = '''\
"""One landing zone (shared networking and DNS) and the workload units placed in it."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import (authorization, keyvault, managedidentity, monitor, network, operationalinsights,
                                 privatedns, resources, storage)

STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ZONES = {{"blob": "privatelink.blob.core.windows.net", "vault": "privatelink.vaultcore.azure.net"}}


@dataclass(frozen=True)
class LandingZone:
    rg: resources.ResourceGroup
    vnet: network.VirtualNetwork
    subnet: network.Subnet
    zones: dict
    identity: managedidentity.UserAssignedIdentity
    workspace: operationalinsights.Workspace


@dataclass(frozen=True)
class Workload:
    account: storage.StorageAccount
    container: storage.BlobContainer
    vault: keyvault.Vault


def _short(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _guid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _rule(name, priority, direction, access, protocol, source, port, description):
    return network.SecurityRuleArgs(
        name=name, description=description, priority=priority, direction=direction, access=access,
        protocol=protocol, source_address_prefix=source, source_port_range="*", destination_address_prefix="*",
        destination_port_range=port)


def create_landing_zone(name: str, location: str, index: int) -> LandingZone:
    rg = resources.ResourceGroup(f"{{name}}-rg", location=location,
                                 tags={{"zone": name, "costCenter": f"cc-{{index % 7}}", "dataClass": "restricted"}})
    workspace = operationalinsights.Workspace(
        f"{{name}}-law", resource_group_name=rg.name, location=location,
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"), retention_in_days=90)
    vnet = network.VirtualNetwork(
        f"{{name}}-vnet",
        resource_group_name=rg.name,
        location=location,
        address_space=network.AddressSpaceArgs(address_prefixes=[f"10.{{index % 250}}.0.0/16"]),
    )
    nsg = network.NetworkSecurityGroup(
        f"{{name}}-pe-nsg", resource_group_name=rg.name, location=location,
        security_rules=[_rule("deny-internet-inbound", 100, "Inbound", "Deny", "*", "Internet", "*",
                              "Nothing in this VNet is reachable from the Internet."),
                        _rule("allow-vnet-https", 200, "Inbound", "Allow", "Tcp", "VirtualNetwork", "443",
                              "Private endpoints answer HTTPS inside the VNet.")])
    subnet = network.Subnet(
        f"{{name}}-pe-subnet",
        resource_group_name=rg.name,
        virtual_network_name=vnet.name,
        address_prefix=f"10.{{index % 250}}.2.0/24",
        default_outbound_access=False,
        private_endpoint_network_policies="Enabled",
        network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
    )
    zones = {{}}
    for key, zone_name in ZONES.items():
        zone = privatedns.PrivateZone(
            f"{{name}}-{{key}}-dns-zone",
            private_zone_name=zone_name,
            resource_group_name=rg.name,
            location="global",
        )
        privatedns.VirtualNetworkLink(
            f"{{name}}-{{key}}-dns-link",
            private_zone_name=zone.name,
            resource_group_name=rg.name,
            location="global",
            virtual_network=privatedns.SubResourceArgs(id=vnet.id),
            registration_enabled=False,
        )
        zones[key] = zone
    identity = managedidentity.UserAssignedIdentity(
        f"{{name}}-training-id", resource_group_name=rg.name, location=location)
    return LandingZone(rg=rg, vnet=vnet, subnet=subnet, zones=zones, identity=identity, workspace=workspace)


def _private_link(name: str, location: str, lz: LandingZone, target_id, group_id: str) -> None:
    endpoint = network.PrivateEndpoint(
        f"{{name}}-{{group_id}}-pe",
        resource_group_name=lz.rg.name,
        location=location,
        subnet={{"id": lz.subnet.id}},
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=f"{{name}}-{{group_id}}-connection",
                private_link_service_id=target_id,
                group_ids=[group_id],
            )
        ],
    )
    network.PrivateDnsZoneGroup(
        f"{{name}}-{{group_id}}-dns-zone-group",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=lz.rg.name,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(name=ZONES[group_id].replace(".", "-"),
                                             private_dns_zone_id=lz.zones[group_id].id)
        ],
    )


def _grant(name: str, subscription_id: str, role: str, scope, principal_id) -> None:
    authorization.RoleAssignment(
        name,
        role_assignment_name=_guid(f"{{subscription_id}}/{{name}}"),
        role_definition_id=f"/subscriptions/{{subscription_id}}/providers/Microsoft.Authorization/roleDefinitions/{{role}}",
        scope=scope,
        principal_id=principal_id,
        principal_type="ServicePrincipal",
    )


def _logs(name: str, resource_uri, lz: LandingZone, groups) -> None:
    monitor.DiagnosticSetting(
        name, resource_uri=resource_uri, workspace_id=lz.workspace.id, log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group=g, enabled=True) for g in groups])


def create_workload(name: str, location: str, lz: LandingZone, subscription_id: str, tenant_id: str,
                    index: int) -> Workload:
    drift = index % 5  # 0: compliant; 1-4: one kind of drift each, as in a real estate
    account_scoped = storage.EncryptionServiceArgs(enabled=True, key_type="Account")
    account = storage.StorageAccount(
        f"{{name}}-sa",
        account_name=f"st{{_short(name, 20)}}",
        resource_group_name=lz.rg.name,
        location=location,
        kind="StorageV2",
        sku=storage.SkuArgs(name="Standard_GZRS" if index % 2 else "Standard_ZRS"),
        access_tier="Hot",
        encryption=storage.EncryptionArgs(
            key_source="Microsoft.Storage",
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(blob=account_scoped, file=account_scoped,
                                                    queue=account_scoped, table=account_scoped),
        ),
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_0" if drift == 1 else "TLS1_2",
        allow_blob_public_access=drift == 4,
        allow_shared_key_access=False,
        allow_cross_tenant_replication=False,
        default_to_o_auth_authentication=True,
        is_local_user_enabled=False,
        is_sftp_enabled=False,
        allowed_copy_scope="PrivateLink",
        public_network_access="Disabled",
        key_policy=storage.KeyPolicyArgs(key_expiration_period_in_days=90),
        sas_policy=storage.SasPolicyArgs(sas_expiration_period="0.01:00:00", expiration_action="Block"),
        network_rule_set=storage.NetworkRuleSetArgs(default_action="Deny", bypass="AzureServices",
                                                    ip_rules=[], virtual_network_rules=[]),
        tags={{"workload": name, "unit": str(index), "owner": f"team-{{index % 13}}@example.com"}},
    )
    blob_service = storage.BlobServiceProperties(
        f"{{name}}-blob-service",
        account_name=account.name,
        resource_group_name=lz.rg.name,
        blob_services_name="default",
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=30,
                                                                  allow_permanent_delete=False),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=30),
        change_feed=storage.ChangeFeedArgs(enabled=True, retention_in_days=90),
    )
    container = storage.BlobContainer(
        f"{{name}}-data",
        container_name="training-data",
        account_name=account.name,
        resource_group_name=lz.rg.name,
        public_access="Blob" if drift == 4 else "None",
        metadata={{"classification": "restricted", "unit": str(index)}},
        opts=pulumi.ResourceOptions(depends_on=[blob_service]),
    )
    open_vault = drift == 2
    vault = keyvault.Vault(
        f"{{name}}-kv",
        vault_name=f"kv{{_short(name, 20)}}",
        resource_group_name=lz.rg.name,
        location=location,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=tenant_id,
            sku=keyvault.SkuArgs(family="A", name="standard"),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=90,
            enable_purge_protection=None if open_vault else True,
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
            public_network_access="enabled" if open_vault else "disabled",
            network_acls=keyvault.NetworkRuleSetArgs(default_action="Allow" if open_vault else "Deny",
                                                     bypass="AzureServices"),
        ),
        tags={{"workload": name}},
    )
    _private_link(name, location, lz, account.id, "blob")
    _private_link(name, location, lz, vault.id, "vault")
    _grant(f"{{name}}-blob-reader", subscription_id, STORAGE_BLOB_DATA_READER, container.id,
           lz.identity.principal_id)
    _grant(f"{{name}}-secrets-user", subscription_id, KEY_VAULT_SECRETS_USER, vault.id,
           lz.identity.principal_id)
    groups = ["allLogs"] if drift == 3 else ["audit", "allLogs"]
    _logs(f"{{name}}-blob-diagnostics", pulumi.Output.concat(account.id, "/blobServices/default"), lz, groups)
    _logs(f"{{name}}-kv-diagnostics", vault.id, lz, groups)
    network.NetworkSecurityGroup(
        f"{{name}}-compute-nsg", resource_group_name=lz.rg.name, location=location,
        security_rules=[
            _rule("deny-internet-inbound", 4000, "Inbound", "Deny", "*", "Internet", "*", "Default deny."),
            _rule("allow-ssh", 300, "Inbound", "Allow", "Tcp", "Internet" if drift == 3 else "VirtualNetwork",
                  "22", "Operators reach the training nodes."),
            _rule("allow-storage-out", 100, "Outbound", "Allow", "Tcp", "VirtualNetwork", "443",
                  "Nodes read training data over Private Link."),
        ])
    return Workload(account=account, container=container, vault=vault)
'''

PULUMI_YAML = """\
name: {name}
description: crossgate benchmark program ({resources} resources)
runtime: {runtime}
"""

STACK_YAML = """\
config:
  azure-native:location: westeurope
  {name}:location: westeurope
  {name}:namePrefix: bench
"""


def generate(target: int, root: Path, *, virtualenv: str | None = None) -> tuple[Path, Layout]:
    """Write a program of about ``target`` resources under ``root``; return its directory and layout.

    ``virtualenv`` (optional) is written into Pulumi.yaml's runtime options; the profiler uses it
    to run crossgate's host under a wrapper interpreter.
    """
    layout = layout_for(target)
    name = f"crossgate-bench-{target}"
    program = root / f"n{target}"
    program.mkdir(parents=True, exist_ok=True)
    runtime = "python" if virtualenv is None else (
        f"\n  name: python\n  options:\n    virtualenv: {virtualenv}")
    (program / "Pulumi.yaml").write_text(
        PULUMI_YAML.format(name=name, resources=layout.resources, runtime=runtime), encoding="utf-8")
    (program / f"Pulumi.{STACK}.yaml").write_text(STACK_YAML.format(name=name), encoding="utf-8")
    (program / "__main__.py").write_text(PROGRAM_MAIN.format(
        units=layout.units, zones=layout.zones, resources=layout.resources, units_per_zone=UNITS_PER_ZONE),
        encoding="utf-8")
    (program / "platform_unit.py").write_text(PROGRAM_UNIT.format(), encoding="utf-8")
    return program, layout


def stack_config(program: Path) -> dict[str, str]:
    """The stack's config as ``PULUMI_CONFIG`` carries it (for the stock-mocks driver)."""
    name = program.name.replace("n", "crossgate-bench-", 1)
    return {"azure-native:location": "westeurope", f"{name}:location": "westeurope",
            f"{name}:namePrefix": "bench"}


__all__ = ["Layout", "generate", "layout_for", "stack_config", "STACK"]
