"""Azure Machine Learning workspaces that train on the private data, and AI Foundry hubs and projects.

A hub-based project (``kind: Project``, ``hubResourceId`` set) inherits its hub's managed network,
public network access, private endpoint, customer-managed key and associated storage account, key
vault and registry. The resource policies therefore accept those settings left unset on a project
(an explicit insecure value still fails), and the stack policies hold the project to its hub: the
hub must be a ``kind: Hub`` workspace declared in the stack (ml-private-endpoint-required and
ml-associated-resources-compliant), and the hub itself passes every ml-* policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ._props import UNKNOWN, UnknownValueError, canonical_type, eq, fmt, get, label, one_of, present, require
from .keyvault import vault_problems
from .metadata import Control, resource_rule, stack_rule
from .privatelink import is_project, project_hub
from .storage import account_problems

WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
#: Azure AI services accounts (Azure OpenAI, AI Foundry resources), where models are fine-tuned on the data.
AI_SERVICES = "azure-native:cognitiveservices:Account"
ACCOUNT = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
REGISTRY = "azure-native:containerregistry:Registry"


def _inherits(args: Any, prop: str) -> bool:
    """Whether a hub-based project leaves ``prop`` to its hub (unset on a ``kind: Project`` workspace with a hub).

    That the hub exists in the stack, and is compliant, is checked by the stack policies.
    """
    return eq(get(args.props, "kind"), "Project") and present(args.props, "hubResourceId") and \
        get(args.props, prop) is None


@resource_rule(Control(
    slug="ml-public-network-disabled",
    description="ML workspaces and Azure AI services (Foundry) accounts must disable public network access (an AI "
                "Foundry project that sets none inherits its hub's), and compute instances and clusters must have "
                "no public IP.",
    severity=Severity.CRITICAL,
    resource_types=(WORKSPACE, COMPUTE, AI_SERVICES),
    remediation="Set `publicNetworkAccess` to 'Disabled' (a missing value means enabled) and reach the workspace "
                "through its private endpoint. On every compute instance and cluster set "
                "`properties.properties.enableNodePublicIp` to false (a missing value means a public IP): no "
                "public IP compute, reached through the workspace's managed network. On an Azure AI services "
                "account set `properties.publicNetworkAccess` to 'Disabled'.",
    checkov=("CKV_AZURE_144", "CKV2_AZURE_49"),
    azure_policy=("438c38d2-3772-465a-a9cc-7a6666a275ce", "a10ee784-7409-4941-b091-663697637c0f"),
    mcsb=("NS-2",),
))
def ml_public_network_disabled(args, config):
    if canonical_type(args.resource_type) == COMPUTE:
        yield from _compute_public_ip(args)
        return
    if canonical_type(args.resource_type) == AI_SERVICES:
        yield from require(args, "properties.publicNetworkAccess", "Disabled", "allows public network access",
                           absent_means="Azure treats as 'Enabled'")
        return
    if _inherits(args, "publicNetworkAccess"):
        return
    yield from require(args, "publicNetworkAccess", "Disabled", "allows public network access",
                       absent_means="Azure treats as 'Enabled'")


#: Compute an ML workspace creates (as opposed to attached compute): each node may get a public IP.
_NODE_COMPUTE = ("ComputeInstance", "AmlCompute")


def _compute_public_ip(args: Any) -> Iterator[str]:
    """A compute instance or cluster whose nodes get a public IP (Azure's default), and with it a public SSH
    or remote-login port."""
    if not one_of(get(args.props, "properties.computeType"), _NODE_COMPUTE):
        return  # attached compute (AKS, Synapse, ...) is judged as its own resource
    public_ip = get(args.props, "properties.properties.enableNodePublicIp")
    if public_ip is False:
        return
    state = "is not set, which Azure treats as true" if public_ip is None else f"is {fmt(public_ip)}"
    yield (f"ML compute '{args.name}' gives its nodes public IP addresses (properties.properties.enableNodePublicIp "
           f"{state}); set it to false.")


@resource_rule(Control(
    slug="ml-managed-network-isolation",
    description="ML workspaces must use managed VNet isolation that allows only approved outbound traffic "
                "(data-exfiltration guard); an AI Foundry project that sets none inherits its hub's.",
    severity=Severity.HIGH,
    resource_types=(WORKSPACE,),
    remediation="Set `managedNetwork.isolationMode` to 'AllowOnlyApprovedOutbound' and list the needed outbound "
                "rules; add 'AllowInternetOutbound' to config `allowedIsolationModes` only where approved.",
    azure_policy=("6ddb1705-c8cf-450e-aa4b-19ad6703c440",),
    mcsb=("NS-2",),
), allowedIsolationModes={"type": "array", "items": {"type": "string"}, "default": ["AllowOnlyApprovedOutbound"],
                          "description": "Managed network isolation modes allowed."})
def ml_managed_network_isolation(args, config):
    if _inherits(args, "managedNetwork"):
        return
    mode = get(args.props, "managedNetwork.isolationMode")
    allowed = config["allowedIsolationModes"]
    if not one_of(mode, allowed):
        state = "is not set, so there is no managed network" if mode is None else f"is {fmt(mode)}"
        yield (f"ML workspace '{args.name}' does not restrict outbound traffic (managedNetwork.isolationMode "
               f"{state}); set it to {' or '.join(repr(m) for m in allowed)}.")


@resource_rule(Control(
    slug="ml-identity-based-datastores",
    description="ML workspace system datastores must authenticate with the workspace identity, not storage "
                "account keys.",
    severity=Severity.MEDIUM,
    resource_types=(WORKSPACE,),
    remediation="Set `systemDatastoresAuthMode` to 'Identity' (required once the storage account disables "
                "Shared Key) and grant the workspace identity a blob data role.",
    mcsb=("~IM-1",),
))
def ml_identity_based_datastores(args, config):
    yield from require(args, "systemDatastoresAuthMode", "Identity", "reaches its datastores with account keys",
                       absent_means="means 'AccessKey'")


@resource_rule(Control(
    slug="ml-user-assigned-identity",
    description="ML workspaces must run as a user-assigned managed identity.",
    severity=Severity.MEDIUM,
    resource_types=(WORKSPACE,),
    remediation="Set `identity` to `{type: 'UserAssigned', userAssignedIdentities: [uami.id]}` and "
                "`primaryUserAssignedIdentity` to the same id.",
    azure_policy=("5f0c7d88-c7de-45b8-ac49-db49e72eaa78",),
    mcsb=("IM-3",),
))
def ml_user_assigned_identity(args, config):
    kind = get(args.props, "identity.type")
    if not (isinstance(kind, str) and "userassigned" in kind.replace(" ", "").casefold()):
        yield (f"ML workspace '{args.name}' does not run as a user-assigned identity (identity.type is {fmt(kind)}); "
               "set it to 'UserAssigned' with userAssignedIdentities and primaryUserAssignedIdentity.")
        return
    missing = [p for p in ("identity.userAssignedIdentities", "primaryUserAssignedIdentity")
               if not present(args.props, p)]
    if missing:
        yield (f"ML workspace '{args.name}' uses a user-assigned identity but does not set {' or '.join(missing)}; "
               "set both to the identity's id.")


@resource_rule(Control(
    slug="ml-cmk-encryption",
    description="ML workspace metadata must be encrypted with a customer-managed key, unwrapped by a "
                "user-assigned identity (where data classification requires it).",
    severity=Severity.MEDIUM,
    resource_types=(WORKSPACE,),
    remediation="Set `encryption` to `{status: 'Enabled', keyVaultProperties: {keyVaultArmId, keyIdentifier}, "
                "identity: {userAssignedIdentity}}` when the workspace is created (it cannot be added later).",
    azure_policy=("ba769a63-b8cc-4b2d-abf6-ac33c7204be8", "7f40cee6-e933-4d0f-a782-b96615e0f4a6"),
    mcsb=("DP-5",),
    default_level=EnforcementLevel.DISABLED,
))
def ml_cmk_encryption(args, config):
    if _inherits(args, "encryption"):
        return
    status = get(args.props, "encryption.status")
    if not eq(status, "Enabled"):
        yield (f"ML workspace '{args.name}' uses Microsoft-managed keys (encryption.status is {fmt(status)}); "
               "enable a customer-managed key.")
        return
    missing = [p for p in ("encryption.keyVaultProperties.keyVaultArmId", "encryption.keyVaultProperties.keyIdentifier",
                           "encryption.identity.userAssignedIdentity") if not present(args.props, p)]
    if missing:
        yield (f"ML workspace '{args.name}' enables a customer-managed key but does not set {', '.join(missing)}.")


@resource_rule(Control(
    slug="ml-hbi-workspace",
    description="ML workspaces holding sensitive training data must be flagged high business impact (less "
                "diagnostic data collected by Microsoft).",
    severity=Severity.LOW,
    resource_types=(WORKSPACE,),
    remediation="Set `hbiWorkspace` to true when the workspace is created (it cannot be changed later).",
    checkov=("CKV2_AZURE_50",),
    mcsb=("~DP-2",),
))
def ml_hbi_workspace(args, config):
    yield from require(args, "hbiWorkspace", True, "is not flagged high business impact",
                       absent_means="defaults to false")


@resource_rule(Control(
    slug="ml-no-public-access-behind-vnet",
    description="The legacy allowPublicAccessWhenBehindVnet flag must not re-open public access.",
    severity=Severity.LOW,
    resource_types=(WORKSPACE,),
    remediation="Set `allowPublicAccessWhenBehindVnet` to false or leave it unset; control access with "
                "`publicNetworkAccess`.",
))
def ml_no_public_access_behind_vnet(args, config):
    yield from require(args, "allowPublicAccessWhenBehindVnet", False, "re-opens public access",
                       absent_ok=True)


def registry_problems(props: Mapping[str, Any]) -> list[str]:
    problems = []
    if not eq(get(props, "publicNetworkAccess"), "Disabled"):
        problems.append("public network access is not disabled")
    if get(props, "adminUserEnabled") is True:
        problems.append("the admin user is enabled")
    return problems


#: Workspace property -> (type it must resolve to, what is wrong with one, required by the workspace).
_ASSOCIATED: dict[str, tuple[str, Callable[[Mapping[str, Any]], list[str]], bool]] = {
    "storageAccount": (ACCOUNT, account_problems, True),
    "keyVault": (VAULT, vault_problems, True),
    "containerRegistry": (REGISTRY, registry_problems, False),
}


@stack_rule(Control(
    slug="ml-associated-resources-compliant",
    description="The storage account, key vault and container registry an ML workspace uses must be declared in "
                "this stack and locked down (no public network access, no anonymous or key-based access).",
    severity=Severity.MEDIUM,
    resource_types=(WORKSPACE,),
    remediation="Set `storageAccount`, `keyVault` and `containerRegistry` to the `id` outputs of resources "
                "declared in the stack, and make those pass the storage-*, kv-* and registry checks.",
    checkov=("CKV2_AZURE_50",),
    mcsb=("~NS-2",),
))
def ml_associated_resources_compliant(stack, config):
    for workspace in stack.of_type(WORKSPACE):
        problems = []
        project = is_project(stack, workspace)
        if project and project_hub(stack, workspace) is None:
            problems.append("hubResourceId names no kind 'Hub' workspace declared in this stack, so what the project "
                            "inherits cannot be checked")
        for prop, (kind, check, required) in _ASSOCIATED.items():
            value = stack.peek(workspace, prop)
            if value is None:
                if required and not project:
                    problems.append(f"{prop} is not set")
                continue
            resolved = stack.deps(workspace, prop, kind)
            if not resolved:
                if value is UNKNOWN:
                    stack.unresolved(workspace, prop)
                else:
                    problems.append(f"{prop} {fmt(value)} is not declared in this stack, so it cannot be checked")
                continue
            for resource in resolved:
                try:
                    found = check(resource.props)
                except UnknownValueError as exc:
                    stack.unresolved(resource, ".".join(exc.props))
                    continue
                if found:
                    problems.append(f"{label(kind).lower()} '{resource.name}': {', '.join(found)}")
        if problems:
            yield workspace, (f"ML workspace '{workspace.name}' depends on resources that are not locked down: "
                              f"{'; '.join(problems)}.")


RULES = (
    ml_public_network_disabled,
    ml_managed_network_isolation,
    ml_identity_based_datastores,
    ml_user_assigned_identity,
    ml_cmk_encryption,
    ml_hbi_workspace,
    ml_no_public_access_behind_vnet,
    ml_associated_resources_compliant,
)
