"""Private Link: private endpoints, their DNS, and the policies that require an endpoint per service.

Every check here follows relations between resources, so these are stack policies. An endpoint's
target is what its ``privateLinkServiceId`` names: a literal ARM id decides by its value (matched
to the stack's resource by provider type and name); an unknown id is the one resource the
``privateLinkServiceConnections`` input was computed from (see :func:`endpoint_targets`). A zone
group's endpoint and zones are the resources its ``privateEndpointName`` and
``privateDnsZoneConfigs`` came from; a VNet link's zone and network likewise. Literal ARM ids (for
resources outside the stack) are accepted where a policy says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._props import UNKNOWN, canonical_type, eq, fmt, get, items, label, one_of, peek, require
from ._stack import StackView
from .metadata import Control, resource_rule, stack_rule

PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
SUBNET = "azure-native:network:Subnet"
VNET = "azure-native:network:VirtualNetwork"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
ACCOUNT = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
REGISTRY = "azure-native:containerregistry:Registry"

_STORAGE_ZONES = {g: (f"privatelink.{g}.core.windows.net",) for g in ("blob", "dfs", "file", "queue", "table", "web")}
#: For each target type, the sub-resources (group ids) an endpoint may connect to and their DNS zones.
LINK_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    ACCOUNT: _STORAGE_ZONES,
    VAULT: {"vault": ("privatelink.vaultcore.azure.net",)},
    WORKSPACE: {"amlworkspace": ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net")},
    REGISTRY: {"registry": ("privatelink.azurecr.io",)},
}
#: The input that holds each target type's Azure name, for literal target ids.
_NAME_PROPERTIES = {ACCOUNT: "accountName", VAULT: "vaultName", WORKSPACE: "workspaceName", REGISTRY: "registryName"}
#: ARM provider paths of those types, for literal target ids.
_PROVIDER_TYPES = {
    "microsoft.storage/storageaccounts": ACCOUNT,
    "microsoft.keyvault/vaults": VAULT,
    "microsoft.machinelearningservices/workspaces": WORKSPACE,
    "microsoft.containerregistry/registries": REGISTRY,
}
PRIVATELINK_ZONES = sorted({zone for groups in LINK_GROUPS.values() for zones in groups.values() for zone in zones})


@dataclass(frozen=True)
class ArmId:
    """The parts of a literal ARM resource id that identify a resource: provider type, name, resource group."""

    #: ``microsoft.storage/storageaccounts`` (lower case; the last provider segment and its type).
    provider_type: str
    #: The resource's name, as written.
    name: str
    #: The resource group's name as written, or None for ids above resource-group level.
    resource_group: str | None

    @classmethod
    def parse(cls, arm_id: str) -> "ArmId | None":
        """``/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`` -> its parts, else None.

        A child id (``.../storageAccounts/a/blobServices/default``) yields its top-level parent; an extension id
        (``<scope>/providers/Microsoft.Authorization/roleAssignments/g``) yields the extension resource.
        """
        parts = [p for p in arm_id.strip().split("/") if p]
        lowered = [p.casefold() for p in parts]
        if "providers" not in lowered:
            return None
        i = len(lowered) - 1 - lowered[::-1].index("providers")  # the innermost resource of an extension id
        if len(parts) < i + 4:
            return None
        group = None
        for j in range(i - 1):
            if lowered[j] == "resourcegroups":
                group = parts[j + 1]
        return cls(f"{lowered[i + 1]}/{lowered[i + 2]}", parts[i + 3], group)

    def names(self, stack: StackView, resource: PolicyResource, name_property: str) -> bool:
        """Whether this id denotes ``resource``: its literal name matches (and its resource group, when both are
        literal), ignoring case."""
        name = stack.peek(resource, name_property)
        if not (isinstance(name, str) and eq(name, self.name)):
            return False
        group = stack.peek(resource, "resourceGroupName")
        return not (isinstance(group, str) and self.resource_group is not None and not eq(group, self.resource_group))


def arm_type(arm_id: str) -> str | None:
    """The canonical type of a literal ARM id of a known private-link target, else None."""
    parsed = ArmId.parse(arm_id)
    return _PROVIDER_TYPES.get(parsed.provider_type) if parsed else None


def zone_of(arm_id: str) -> str | None:
    """The zone name of a literal private DNS zone id (``.../privateDnsZones/<name>``)."""
    parts = arm_id.strip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.casefold() == "privatednszones":
            return parts[i + 1].casefold()
    return None


# -- endpoint facts ----------------------------------------------------------------------------

def literal_targets(stack: StackView, arm_id: str) -> list[PolicyResource]:
    """The in-stack private-link targets a literal ARM id names (by provider type and name, ignoring case)."""
    parsed = ArmId.parse(arm_id)
    kind = _PROVIDER_TYPES.get(parsed.provider_type) if parsed else None
    if parsed is None or kind is None:
        return []
    return [r for r in stack.with_literal(kind, _NAME_PROPERTIES[kind], parsed.name)
            if parsed.names(stack, r, _NAME_PROPERTIES[kind])]


def endpoint_targets(stack: StackView, pe: PolicyResource) -> list[PolicyResource]:
    """The in-stack resources the endpoint connects to.

    Only ``privateLinkServiceId`` links an endpoint to its target. A literal id decides by its value,
    whatever else the connection was computed from. An unknown id was computed from the resources
    ``privateLinkServiceConnections`` depends on; the engine records those per top-level input, so a
    dependency through the connection's ``name`` can't be told from one through its id, and every
    dependency counts as a possible target (two or more make the endpoint count for none). A
    dependency is the target only when it is the only one.
    """
    connections = stack.peek(pe, "privateLinkServiceConnections")
    targets: list[PolicyResource] = []
    computed = connections is UNKNOWN
    for connection in items(connections):
        target = UNKNOWN if connection is UNKNOWN else peek(connection, "privateLinkServiceId")
        if isinstance(target, str):
            stack.extend_unique(targets, literal_targets(stack, target))
        elif target is UNKNOWN:
            computed = True
    if computed:
        stack.extend_unique(targets, stack.deps(pe, "privateLinkServiceConnections"))
    return targets


def endpoints_by_target(stack: StackView) -> dict[str, list[PolicyResource]]:
    """Every private endpoint of the stack under the URN of each resource it may connect to."""
    found: dict[str, list[PolicyResource]] = {}
    for pe in stack.of_type(PRIVATE_ENDPOINT):
        for target in endpoint_targets(stack, pe):
            found.setdefault(target.urn, []).append(pe)
    return found


def endpoint_group_ids(stack: StackView, pe: PolicyResource) -> list[str] | Any:
    """Every group id of the endpoint's connections (lower-cased), or UNKNOWN (after recording it)."""
    groups: list[str] = []
    for i, connection in enumerate(items(stack.peek(pe, "privateLinkServiceConnections"))):
        path = f"privateLinkServiceConnections.{i}"
        ids = UNKNOWN if connection is UNKNOWN else peek(connection, "groupIds")
        if ids is UNKNOWN:
            stack.unresolved(pe, path if connection is UNKNOWN else f"{path}.groupIds")
            return UNKNOWN
        for j, value in enumerate(items(ids)):
            if value is UNKNOWN:
                stack.unresolved(pe, f"{path}.groupIds.{j}")
                return UNKNOWN
            groups.append(str(value).casefold())
    return groups


def target_type(stack: StackView, pe: PolicyResource) -> str | None:
    """The type of the endpoint's single target, from its dependency or a literal id."""
    targets = endpoint_targets(stack, pe)
    if len(targets) == 1:
        return canonical_type(targets[0].resource_type)
    if targets:
        return None
    for connection in items(stack.peek(pe, "privateLinkServiceConnections")):
        target = connection if connection is UNKNOWN else peek(connection, "privateLinkServiceId")
        if isinstance(target, str):
            return arm_type(target)
    return None


def _required_endpoint(stack: StackView, target_types: tuple[str, ...], needed: Any
                       ) -> Iterator[tuple[PolicyResource, str]]:
    """Yield a violation for each target that lacks an endpoint for one of the group ids it needs."""
    endpoints = endpoints_by_target(stack)
    for target in stack.of_type(*target_types):
        groups = needed(stack, target)
        covered: set[str] = set()
        shared = []
        undecided = False
        for pe in endpoints.get(target.urn, ()):
            if len(endpoint_targets(stack, pe)) > 1:
                shared.append(pe)
                continue
            ids = endpoint_group_ids(stack, pe)
            if ids is UNKNOWN:
                undecided = True
            else:
                covered.update(ids)
        missing = [g for g in groups if g not in covered]
        if not missing or undecided:
            continue
        what = " and ".join(f"'{g}'" for g in missing)
        message = (f"{label(target.resource_type)} '{target.name}' has no private endpoint for {what}; add a "
                   f"network:PrivateEndpoint whose privateLinkServiceConnections target it with groupIds "
                   f"{fmt(missing[:1])}.")
        if shared:
            message += (f" Endpoint(s) {stack.names(shared)} connect to several resources and count for none; "
                        "use one endpoint per resource.")
        if stack.is_type(target, WORKSPACE) and is_project(stack, target):
            message += (" It is a project whose hubResourceId names no kind 'Hub' workspace declared in this stack, "
                        "so it inherits no endpoint that can be checked.")
        yield target, message


#: Storage resources declared on an account, and the sub-resource (group id) each one is served from.
STORAGE_SERVICES = {
    "azure-native:storage:BlobContainer": "blob",
    "azure-native:storage:BlobServiceProperties": "blob",
    "azure-native:storage:FileShare": "file",
    "azure-native:storage:FileServiceProperties": "file",
    "azure-native:storage:Queue": "queue",
    "azure-native:storage:QueueServiceProperties": "queue",
    "azure-native:storage:Table": "table",
    "azure-native:storage:TableServiceProperties": "table",
}


def storage_groups(stack: StackView, account: PolicyResource) -> list[str]:
    """The sub-resources an account serves: its primary service by kind ('file' for FileStorage, else 'blob'),
    'dfs' with a hierarchical namespace, and every service the stack declares on it. Records an unknown kind."""
    kind = stack.peek(account, "kind")
    if kind is UNKNOWN:
        stack.unresolved(account, "kind")
        return []
    file_only = eq(kind, "FileStorage")
    groups = ["file"] if file_only else ["blob"]
    if not file_only and stack.peek(account, "isHnsEnabled") is True:
        groups.append("dfs")
    services = stack.dependents(account, "accountName", *STORAGE_SERVICES)
    name = stack.peek(account, "accountName")
    if isinstance(name, str):
        for service_type in STORAGE_SERVICES:
            services += [r for r in stack.with_literal(service_type, "accountName", name)
                         if not stack.deps(r, "accountName")]
    for service in services:
        group = STORAGE_SERVICES[canonical_type(service.resource_type)]
        if group not in groups:
            groups.append(group)
    return groups


@stack_rule(Control(
    slug="storage-private-endpoint-required",
    description="Every storage account must be reachable through its own private endpoint for each "
                "sub-resource it serves: 'blob' ('file' for a FileStorage account), 'dfs' when hierarchical "
                "namespace is on, and 'file', 'queue' or 'table' when the stack declares shares, queues or tables "
                "on it.",
    severity=Severity.HIGH,
    resource_types=(ACCOUNT,),
    remediation="Declare a `network:PrivateEndpoint` per account and sub-resource with "
                "`privateLinkServiceConnections` `[{privateLinkServiceId: account.id, groupIds: ['blob']}]` (and "
                "one for 'dfs' when `isHnsEnabled`, 'file' for FileStorage accounts and file shares, 'queue', "
                "'table' likewise), plus a PrivateDnsZoneGroup for the matching privatelink zone.",
    cis=(("3.0.0", "4.9"), ("6.0.0", "9.3.2.1")),
    checkov=("CKV2_AZURE_33",),
    azure_policy=("6edd7eda-6dd8-40f7-810d-67160c639cd9", "9f766f00-8d11-464e-80e1-4091d7874074"),
    mcsb=("NS-2",),
))
def storage_private_endpoint_required(stack, config):
    yield from _required_endpoint(stack, (ACCOUNT,), storage_groups)


@stack_rule(Control(
    slug="kv-private-endpoint-required",
    description="Every key vault must be reachable through its own private endpoint (group 'vault').",
    severity=Severity.HIGH,
    resource_types=(VAULT,),
    remediation="Declare a `network:PrivateEndpoint` with `privateLinkServiceConnections` "
                "`[{privateLinkServiceId: vault.id, groupIds: ['vault']}]`, plus a PrivateDnsZoneGroup for "
                "privatelink.vaultcore.azure.net.",
    cis=(("3.0.0", "3.3.7"), ("6.0.0", "8.3.8")),
    checkov=("CKV2_AZURE_32",),
    azure_policy=("a6abeaec-4d90-4a02-805f-6b26c4d3fbe9", "9d4fad1f-5189-4a42-b29e-cf7929c6b6df"),
    mcsb=("DP-8", "NS-2"),
))
def kv_private_endpoint_required(stack, config):
    yield from _required_endpoint(stack, (VAULT,), lambda stack, vault: ["vault"])


@stack_rule(Control(
    slug="ml-private-endpoint-required",
    description="Every ML workspace must be reachable through its own private endpoint (group 'amlworkspace'); an "
                "AI Foundry project (kind 'Project') is reached through the endpoint of its hub, which must be a "
                "kind 'Hub' workspace declared in the stack.",
    severity=Severity.HIGH,
    resource_types=(WORKSPACE,),
    remediation="Declare a `network:PrivateEndpoint` with `privateLinkServiceConnections` "
                "`[{privateLinkServiceId: workspace.id, groupIds: ['amlworkspace']}]`, plus a PrivateDnsZoneGroup "
                "for privatelink.api.azureml.ms and privatelink.notebooks.azure.net.",
    checkov=("CKV_AZURE_243",),
    azure_policy=("45e05259-1eb5-4f70-9574-baf73e9d219b", "7838fd83-5cbb-4b5d-888c-bfa240972597",
                  "ee40564d-486e-4f68-a5ca-7a621edae0fb"),
    mcsb=("NS-2",),
))
def ml_private_endpoint_required(stack, config):
    def needed(stack: StackView, workspace: PolicyResource) -> list[str]:
        if not is_project(stack, workspace):
            return ["amlworkspace"]
        hub = project_hub(stack, workspace)
        return [] if hub is not None else ["amlworkspace"]  # an in-stack hub's endpoint serves its projects

    yield from _required_endpoint(stack, (WORKSPACE,), needed)


# -- AI Foundry hubs and projects --------------------------------------------------------------

def is_project(stack: StackView, workspace: PolicyResource) -> bool:
    """A hub-based project (``kind: Project``), which inherits its hub's network, endpoint and resources."""
    return eq(stack.peek(workspace, "kind"), "Project")


def project_hub(stack: StackView, project: PolicyResource) -> PolicyResource | None:
    """The in-stack ``kind: Hub`` workspace a project belongs to, from ``hubResourceId`` (its dependency, or a
    literal id matched by name); None when it is not in the stack (an unknown id without dependency is recorded)."""
    hubs = stack.deps(project, "hubResourceId", WORKSPACE)
    if not hubs:
        value = stack.peek(project, "hubResourceId")
        if value is UNKNOWN and not stack.deps(project, "hubResourceId"):
            stack.unresolved(project, "hubResourceId")
        if isinstance(value, str):
            hubs = literal_targets(stack, value)
    hubs = [h for h in hubs if eq(stack.peek(h, "kind"), "Hub")]
    return hubs[0] if len(hubs) == 1 else None


# -- PrivateEndpoint ---------------------------------------------------------------------------

@stack_rule(Control(
    slug="pe-auto-approved-connection",
    description="Private endpoints must use auto-approved connections to targets declared in this stack (or "
                "under an allowed id prefix); no manual connections.",
    severity=Severity.MEDIUM,
    resource_types=(PRIVATE_ENDPOINT,),
    remediation="Move `manualPrivateLinkServiceConnections` entries to `privateLinkServiceConnections`, and "
                "point `privateLinkServiceId` at a resource's `id` output (or list the external target's "
                "subscription/resource-group prefix in config `allowedTargetIdPrefixes`).",
    mcsb=("~NS-2",),
), allowedTargetIdPrefixes={"type": "array", "items": {"type": "string"}, "default": [],
                            "description": "ARM id prefixes (e.g. '/subscriptions/<id>/resourceGroups/<rg>/') "
                                           "of approved targets outside the stack."})
def pe_auto_approved_connection(stack, config):
    prefixes = [p.casefold() for p in config["allowedTargetIdPrefixes"]]
    for pe in stack.of_type(PRIVATE_ENDPOINT):
        manual = items(stack.peek(pe, "manualPrivateLinkServiceConnections"))
        if manual:
            yield pe, (f"Private endpoint '{pe.name}' uses {len(manual)} manual connection(s) "
                       "(manualPrivateLinkServiceConnections), which wait for approval by the target's owner; use "
                       "privateLinkServiceConnections to a target in this stack.")
            continue
        if endpoint_targets(stack, pe):
            continue
        for i, connection in enumerate(items(stack.peek(pe, "privateLinkServiceConnections"))):
            target = UNKNOWN if connection is UNKNOWN else peek(connection, "privateLinkServiceId")
            if target is UNKNOWN:
                stack.unresolved(pe, f"privateLinkServiceConnections.{i}.privateLinkServiceId")
            elif isinstance(target, str) and not any(target.casefold().startswith(p) for p in prefixes):
                yield pe, (f"Private endpoint '{pe.name}' connects to {fmt(target)}, which is not declared in this "
                           "stack nor under an allowed prefix (config allowedTargetIdPrefixes); use the target "
                           "resource's id output.")
                break


@stack_rule(Control(
    slug="pe-correct-group-id",
    description="Each private endpoint must connect to exactly one sub-resource, and its group id must fit the "
                "target (storage: blob/dfs/...; vault: vault; ML workspace: amlworkspace).",
    severity=Severity.MEDIUM,
    resource_types=(PRIVATE_ENDPOINT,),
    remediation="Set `privateLinkServiceConnections[].groupIds` to the one sub-resource the endpoint serves "
                "('blob', 'vault', 'amlworkspace'); declare one endpoint per sub-resource.",
    mcsb=("~NS-2",),
))
def pe_correct_group_id(stack, config):
    for pe in stack.of_type(PRIVATE_ENDPOINT):
        if len(endpoint_targets(stack, pe)) > 1:
            continue  # storage/kv/ml-private-endpoint-required report endpoints shared between targets
        kind = target_type(stack, pe)
        ids = endpoint_group_ids(stack, pe)
        if ids is UNKNOWN:
            continue
        allowed = LINK_GROUPS.get(kind or "", {})
        if len(ids) != 1:
            yield pe, (f"Private endpoint '{pe.name}' connects to {len(ids)} sub-resources (groupIds "
                       f"{fmt(ids)}); declare one endpoint per sub-resource.")
        elif allowed and ids[0] not in allowed:
            yield pe, (f"Private endpoint '{pe.name}' asks for group {fmt(ids[0])}, which a "
                       f"{label(kind or '').lower()} does not offer; use one of {fmt(sorted(allowed))}.")


def zone_groups(stack: StackView, pe: PolicyResource) -> list[PolicyResource]:
    """The DNS zone groups of an endpoint (by dependency, parent, or literal endpoint name)."""
    groups = stack.dependents(pe, "privateEndpointName", ZONE_GROUP)
    pe_name = stack.peek(pe, "privateEndpointName")
    others = stack.children(pe, ZONE_GROUP)
    if isinstance(pe_name, str):
        others += [group for group in stack.with_literal(ZONE_GROUP, "privateEndpointName", pe_name)
                   if not stack.deps(group, "privateEndpointName")]
    return stack.extend_unique(groups, stack.in_stack_order(others))


def zone_names(stack: StackView, group: PolicyResource) -> set[str] | Any:
    """Names of the zones a zone group points at (lower-cased), or UNKNOWN (after recording it)."""
    names: set[str] = set()
    for zone in stack.deps(group, "privateDnsZoneConfigs", PRIVATE_ZONE):
        name = stack.peek(zone, "privateZoneName")
        if name is UNKNOWN:
            stack.unresolved(zone, "privateZoneName")
            return UNKNOWN
        if isinstance(name, str):
            names.add(name.casefold())
    for config in items(stack.peek(group, "privateDnsZoneConfigs")):
        zone_id = UNKNOWN if config is UNKNOWN else peek(config, "privateDnsZoneId")
        if isinstance(zone_id, str) and (name := zone_of(zone_id)):
            names.add(name)
    return names


@stack_rule(Control(
    slug="pe-dns-zone-group",
    description="Each private endpoint must have a private DNS zone group pointing at the matching privatelink "
                "zone(s), so clients resolve the service's name to the private address.",
    severity=Severity.MEDIUM,
    resource_types=(PRIVATE_ENDPOINT,),
    remediation="Declare a `network:PrivateDnsZoneGroup` with `privateEndpointName` set to the endpoint's name "
                "and `privateDnsZoneConfigs[].privateDnsZoneId` set to the privatelink zone's id "
                "(privatelink.blob.core.windows.net, privatelink.vaultcore.azure.net, or "
                "privatelink.api.azureml.ms + privatelink.notebooks.azure.net).",
    azure_policy=("75973700-529f-4de2-b794-fb9b6781b6b0", "ac673a9a-f77d-4846-b2d8-a57f8e1c01d4",
                  "ee40564d-486e-4f68-a5ca-7a621edae0fb"),
    mcsb=("~NS-2",),
))
def pe_dns_zone_group(stack, config):
    for pe in stack.of_type(PRIVATE_ENDPOINT):
        expected = _expected_zones(stack, pe)
        groups = zone_groups(stack, pe)
        if not groups:
            zones = f" for {', '.join(expected)}" if expected else ""
            yield pe, (f"Private endpoint '{pe.name}' has no private DNS zone group; add a network:PrivateDnsZoneGroup"
                       f"{zones} so its address is published in DNS.")
            continue
        found: set[str] = set()
        for group in groups:
            names = zone_names(stack, group)
            if names is UNKNOWN:
                break
            found |= names
        else:
            missing = [z for z in expected if z not in found]
            if not found:
                yield pe, (f"Private endpoint '{pe.name}' zone group {stack.names(groups)} references no private DNS "
                           "zone; set privateDnsZoneConfigs[].privateDnsZoneId to a privatelink zone's id.")
            elif missing:
                yield pe, (f"Private endpoint '{pe.name}' zone group {stack.names(groups)} does not include "
                           f"{', '.join(missing)} (it has {', '.join(sorted(found))}); add the matching zone.")


def _expected_zones(stack: StackView, pe: PolicyResource) -> list[str]:
    kind = target_type(stack, pe)
    ids = endpoint_group_ids(stack, pe)
    if kind is None or ids is UNKNOWN:
        return []
    zones: list[str] = []
    for group in ids:
        zones.extend(z for z in LINK_GROUPS.get(kind, {}).get(group, ()) if z not in zones)
    return zones


def subnet_name(stack: StackView, subnet: PolicyResource) -> Any:
    """A standalone subnet's Azure name: its ``subnetName``, else its logical name (azure-native copies a child
    resource's logical name verbatim); :data:`UNKNOWN` when ``subnetName`` is unknown until deployment."""
    name = stack.peek(subnet, "subnetName")
    return subnet.name if name is None else name


@stack_rule(Control(
    slug="pe-subnet-approved",
    description="Private endpoints must sit in a subnet declared in this stack (the dedicated private-endpoint "
                "subnet, which itself passes the subnet-* controls).",
    severity=Severity.LOW,
    resource_types=(PRIVATE_ENDPOINT,),
    remediation="Set `subnet.id` to the private-endpoint subnet's `id` output; list an external subnet in config "
                "`allowedSubnetIds`, and pin the subnet names with `approvedSubnetNames` if several exist.",
    mcsb=("~NS-1",),
),
    allowedSubnetIds={"type": "array", "items": {"type": "string"}, "default": [],
                      "description": "Ids of approved subnets outside the stack."},
    approvedSubnetNames={"type": "array", "items": {"type": "string"}, "default": [],
                         "description": "If set, the in-stack subnets (by subnetName) endpoints may use."},
)
def pe_subnet_approved(stack, config):
    allowed_ids = {s.casefold() for s in config["allowedSubnetIds"]}
    approved_names = {s.casefold() for s in config["approvedSubnetNames"]}
    for pe in stack.of_type(PRIVATE_ENDPOINT):
        subnets = stack.deps(pe, "subnet", SUBNET, VNET)
        if subnets:
            if not approved_names:
                continue
            names = [subnet_name(stack, s) for s in subnets if stack.is_type(s, SUBNET)]
            if any(isinstance(n, str) and n.casefold() in approved_names for n in names):
                continue
            yield pe, (f"Private endpoint '{pe.name}' is in subnet {', '.join(fmt(n) for n in names) or 'inline'}, "
                       f"which is not an approved private-endpoint subnet ({', '.join(sorted(approved_names))}).")
            continue
        subnet_id = stack.peek(pe, "subnet.id")
        if subnet_id is UNKNOWN:
            stack.unresolved(pe, "subnet.id")
        elif not (isinstance(subnet_id, str) and subnet_id.casefold() in allowed_ids):
            yield pe, (f"Private endpoint '{pe.name}' is in subnet {fmt(subnet_id)}, which is not declared in this "
                       "stack; use the private-endpoint subnet's id output (or list it in config allowedSubnetIds).")


# -- private DNS zones and links ---------------------------------------------------------------

@resource_rule(Control(
    slug="dns-zone-privatelink-name",
    description="Private DNS zones must carry the exact privatelink name of a service in use, in location "
                "'global'.",
    severity=Severity.LOW,
    resource_types=(PRIVATE_ZONE,),
    remediation="Set `privateZoneName` to the service's privatelink zone (e.g. privatelink.blob.core.windows.net) "
                "and `location` to 'global'; add other zone names to config `allowedZoneNames`.",
), allowedZoneNames={"type": "array", "items": {"type": "string"}, "default": PRIVATELINK_ZONES,
                     "description": "Private DNS zone names allowed."})
def dns_zone_privatelink_name(args, config):
    name = get(args.props, "privateZoneName")
    if not one_of(name, config["allowedZoneNames"]):
        yield (f"Private DNS zone '{args.name}' is named {fmt(name)} (privateZoneName), which is not the privatelink "
               "zone of a service in use; use e.g. 'privatelink.blob.core.windows.net' or extend config "
               "allowedZoneNames.")
        return
    location = get(args.props, "location")
    if location is not None and not eq(location, "global"):
        yield f"Private DNS zone '{args.name}' is in location {fmt(location)}; set location to 'global'."


@stack_rule(Control(
    slug="dns-zone-vnet-linked",
    description="Each privatelink DNS zone must be linked to every virtual network whose private endpoints use "
                "it (and to at least one).",
    severity=Severity.MEDIUM,
    resource_types=(PRIVATE_ZONE,),
    remediation="Declare a `privatedns:VirtualNetworkLink` with `privateZoneName` set to the zone's name and "
                "`virtualNetwork.id` set to the VNet's id, for every VNet that hosts endpoints using the zone.",
    mcsb=("~NS-2",),
))
def dns_zone_vnet_linked(stack, config):
    for zone in stack.of_type(PRIVATE_ZONE):
        name = stack.peek(zone, "privateZoneName")
        if isinstance(name, str) and not name.casefold().startswith("privatelink."):
            continue
        links = zone_links(stack, zone)
        if not links:
            yield zone, (f"Private DNS zone '{zone.name}' is not linked to any virtual network; add a "
                         "privatedns:VirtualNetworkLink so the VNet resolves names in it.")
            continue
        linked = {v.urn for link in links for v in stack.deps(link, "virtualNetwork", VNET)}
        consumers = _consuming_vnets(stack, zone)
        missing = [v for v in consumers if v.urn not in linked]
        if missing:
            yield zone, (f"Private DNS zone '{zone.name}' is not linked to virtual network(s) {stack.names(missing)}, "
                         "where private endpoints that use it live; add a VirtualNetworkLink for each.")


def zone_links(stack: StackView, zone: PolicyResource) -> list[PolicyResource]:
    """The VNet links of a zone (by dependency, or by literal zone name)."""
    links = stack.dependents(zone, "privateZoneName", VNET_LINK)
    name = stack.peek(zone, "privateZoneName")
    if isinstance(name, str):
        stack.extend_unique(links, [link for link in stack.with_literal(VNET_LINK, "privateZoneName", name)
                                    if not stack.deps(link, "privateZoneName")])
    return links


def _consuming_vnets(stack: StackView, zone: PolicyResource) -> list[PolicyResource]:
    vnets: list[PolicyResource] = []
    for group in stack.dependents(zone, "privateDnsZoneConfigs", ZONE_GROUP):
        for pe in stack.deps(group, "privateEndpointName", PRIVATE_ENDPOINT):
            for subnet in stack.deps(pe, "subnet", SUBNET, VNET):
                found = [subnet] if stack.is_type(subnet, VNET) else stack.deps(subnet, "virtualNetworkName", VNET)
                vnets.extend(v for v in found if v not in vnets)
    return vnets


@resource_rule(Control(
    slug="dns-zone-link-no-autoregistration",
    description="Virtual network links to private DNS zones must not auto-register VM records.",
    severity=Severity.LOW,
    resource_types=(VNET_LINK,),
    remediation="Set `registrationEnabled` to false or leave it unset.",
))
def dns_zone_link_no_autoregistration(args, config):
    yield from require(args, "registrationEnabled", False, "auto-registers VM records in the zone", absent_ok=True)


@resource_rule(Control(
    slug="dns-zone-link-no-public-fallback",
    description="Virtual network links must not fall back to public DNS resolution (NxDomainRedirect).",
    severity=Severity.LOW,
    resource_types=(VNET_LINK,),
    remediation="Set `resolutionPolicy` to 'Default' or leave it unset.",
))
def dns_zone_link_no_public_fallback(args, config):
    yield from require(args, "resolutionPolicy", "Default", "falls back to public DNS resolution", absent_ok=True)


RULES = (
    storage_private_endpoint_required,
    kv_private_endpoint_required,
    ml_private_endpoint_required,
    pe_auto_approved_connection,
    pe_correct_group_id,
    pe_dns_zone_group,
    pe_subnet_approved,
    dns_zone_privatelink_name,
    dns_zone_vnet_linked,
    dns_zone_link_no_autoregistration,
    dns_zone_link_no_public_fallback,
)
