"""Type recognition, in one place: every spelling of a covered azure-native type, and ARM types.

A policy names the types it covers by their canonical azure-native v3 token
(``azure-native:storage:StorageAccount``). The same Azure type reaches the pack spelled other ways,
and each of them is recognised here:

- an API-versioned module: ``azure-native:storage/v20230501:StorageAccount``;
- a local SDK generated with ``pulumi package add azure-native <module> <version>``, whose package
  is ``azure-native_<module>_<version>``: ``azure-native_storage_v20230101:storage:StorageAccount``
  (and the earlier ``azure-native_storage_v20230101:storage/v20230101:StorageAccount``);
- the v2 tokens azure-native keeps as aliases (``azure-native:insights:DiagnosticSetting``);
- a different letter case in the package, module or type name.

Only the ``azure-native`` package and its local SDK packages are canonicalised; any other package
(``azure``, ``azapi``, ``azure-native-foo``) keeps its token, so nothing else is widened by accident.

ARM resource types (``Microsoft.Storage/storageAccounts``), which generic resources and template
deployments name, map onto the same tokens through :data:`ARM_TYPES`, with the shape azure-native
gives their body (which ``properties`` it flattens, which ARM names it renames).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["AZURE_NATIVE", "ArmType", "ARM_TYPES", "arm_type", "is_extension_form", "arm_types_of", "canonical_type",
           "spellings", "type_matches", "is_type_pattern", "pattern_matches", "register_tokens"]

AZURE_NATIVE = "azure-native"

#: ``azure-native_<module>_<api version>``: the package of a local SDK (``pulumi package add``).
_LOCAL_PACKAGE = re.compile(r"^azure-native_(?P<module>[a-z0-9]+)_(?P<version>v\d{8}[a-z]*)$", re.IGNORECASE)

#: azure-native v2 tokens kept as aliases in v3, mapped to the module v3 uses (keys case-folded).
_MODULE_ALIASES = {
    ("insights", "diagnosticsetting"): "monitor",
    ("network", "privatezone"): "privatedns",
    ("network", "virtualnetworklink"): "privatedns",
}


@dataclass(frozen=True)
class ArmType:
    """How an ARM resource type becomes the azure-native resource a policy expects.

    ``names`` are the azure-native inputs that receive the segments of the ARM name
    (``acct/default/data`` for a container), None for a segment azure-native doesn't take.
    ``flatten`` says what azure-native does with the ARM body's ``properties``: ``top`` lifts them
    to the top level; ``deep`` also lifts the ``properties`` of nested objects (subnets, security
    rules, private link connections); ``none`` keeps ``properties`` as it is (Key Vault).
    ``renames`` maps an ARM property path (after flattening, case-insensitive, list indices left
    out) to the name azure-native gives that property. ``scope`` is the input that receives an
    extension resource's top-level ``scope``. ``aliases`` are other azure-native tokens for the same
    ARM type: a policy covering any of them sees the resource (once).
    """

    arm_type: str
    token: str
    names: tuple[str | None, ...]
    flatten: str = "top"
    renames: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.token, *self.aliases)

    def __post_init__(self) -> None:
        if self.flatten not in ("top", "deep", "none"):
            raise ValueError(f"{self.arm_type}: flatten must be 'top', 'deep' or 'none'")
        if len(self.names) != self.arm_type.count("/"):
            raise ValueError(f"{self.arm_type}: one name input per type segment")


_STORAGE_RENAMES = {
    # azure-native renames these ARM properties of a storage account (x-ms-client-name).
    "networkacls": "networkRuleSet",
    "supportshttpstrafficonly": "enableHttpsTrafficOnly",
    "encryption.keyvaultproperties": "keyVaultProperties",
    "encryption.keyvaultproperties.keyname": "keyName",
    "encryption.keyvaultproperties.keyversion": "keyVersion",
    "encryption.keyvaultproperties.keyvaulturi": "keyVaultUri",
    "encryption.identity": "encryptionIdentity",
    "encryption.identity.userassignedidentity": "encryptionUserAssignedIdentity",
    "encryption.identity.federatedidentityclientid": "encryptionFederatedIdentityClientId",
    "networkacls.iprules.value": "iPAddressOrRange",
    "networkacls.virtualnetworkrules.id": "virtualNetworkResourceId",
}

_ARM_TYPES = (
    ArmType("Microsoft.Storage/storageAccounts", "azure-native:storage:StorageAccount", ("accountName",),
            renames=_STORAGE_RENAMES),
    ArmType("Microsoft.Storage/storageAccounts/blobServices", "azure-native:storage:BlobServiceProperties",
            ("accountName", "blobServicesName")),
    ArmType("Microsoft.Storage/storageAccounts/blobServices/containers", "azure-native:storage:BlobContainer",
            ("accountName", None, "containerName")),
    ArmType("Microsoft.KeyVault/vaults", "azure-native:keyvault:Vault", ("vaultName",), flatten="none"),
    # ``<vault>/add``, ``<vault>/replace`` or ``<vault>/remove``: the last name segment is the operation.
    ArmType("Microsoft.KeyVault/vaults/accessPolicies", "azure-native:keyvault:AccessPolicy",
            ("vaultName", "operationKind"), flatten="none"),
    ArmType("Microsoft.KeyVault/vaults/keys", "azure-native:keyvault:Key", ("vaultName", "keyName"), flatten="none"),
    ArmType("Microsoft.KeyVault/vaults/secrets", "azure-native:keyvault:Secret", ("vaultName", "secretName"),
            flatten="none"),
    ArmType("Microsoft.Network/virtualNetworks", "azure-native:network:VirtualNetwork", ("virtualNetworkName",),
            flatten="deep"),
    ArmType("Microsoft.Network/virtualNetworks/subnets", "azure-native:network:Subnet",
            ("virtualNetworkName", "subnetName"), flatten="deep"),
    ArmType("Microsoft.Network/networkSecurityGroups", "azure-native:network:NetworkSecurityGroup",
            ("networkSecurityGroupName",), flatten="deep"),
    ArmType("Microsoft.Network/networkSecurityGroups/securityRules", "azure-native:network:SecurityRule",
            ("networkSecurityGroupName", "securityRuleName"), flatten="deep"),
    ArmType("Microsoft.Network/privateEndpoints", "azure-native:network:PrivateEndpoint", ("privateEndpointName",),
            flatten="deep"),
    ArmType("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "azure-native:network:PrivateDnsZoneGroup",
            ("privateEndpointName", "privateDnsZoneGroupName"), flatten="deep"),
    ArmType("Microsoft.Network/networkWatchers/flowLogs", "azure-native:network:FlowLog",
            ("networkWatcherName", "flowLogName")),
    ArmType("Microsoft.Network/ddosProtectionPlans", "azure-native:network:DdosProtectionPlan",
            ("ddosProtectionPlanName",)),
    ArmType("Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
            "azure-native:network:AdminRule",
            ("networkManagerName", "configurationName", "ruleCollectionName", "ruleName"), flatten="deep"),
    ArmType("Microsoft.Network/privateDnsZones", "azure-native:privatedns:PrivateZone", ("privateZoneName",)),
    ArmType("Microsoft.Network/privateDnsZones/virtualNetworkLinks", "azure-native:privatedns:VirtualNetworkLink",
            ("privateZoneName", "virtualNetworkLinkName")),
    ArmType("Microsoft.Authorization/roleAssignments", "azure-native:authorization:RoleAssignment",
            ("roleAssignmentName",), scope="scope"),
    ArmType("Microsoft.Authorization/roleDefinitions", "azure-native:authorization:RoleDefinition",
            ("roleDefinitionId",), scope="scope"),
    # azure-native's own resource for this ARM type is authorization:PimRoleEligibilitySchedule.
    ArmType("Microsoft.Authorization/roleEligibilityScheduleRequests",
            "azure-native:authorization:RoleEligibilityScheduleRequest", ("roleEligibilityScheduleRequestName",),
            scope="scope", aliases=("azure-native:authorization:PimRoleEligibilitySchedule",)),
    ArmType("Microsoft.Authorization/roleAssignmentScheduleRequests",
            "azure-native:authorization:RoleAssignmentScheduleRequest", ("roleAssignmentScheduleRequestName",),
            scope="scope"),
    ArmType("Microsoft.ManagedServices/registrationDefinitions", "azure-native:managedservices:RegistrationDefinition",
            ("registrationDefinitionId",), flatten="none", scope="scope"),
    ArmType("Microsoft.ManagedServices/registrationAssignments", "azure-native:managedservices:RegistrationAssignment",
            ("registrationAssignmentId",), flatten="none", scope="scope"),
    ArmType("Microsoft.ManagedIdentity/userAssignedIdentities", "azure-native:managedidentity:UserAssignedIdentity",
            ("resourceName",)),
    ArmType("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
            "azure-native:managedidentity:FederatedIdentityCredential",
            ("resourceName", "federatedIdentityCredentialResourceName")),
    ArmType("Microsoft.Insights/diagnosticSettings", "azure-native:monitor:DiagnosticSetting", ("name",),
            scope="resourceUri"),
    ArmType("Microsoft.OperationalInsights/workspaces", "azure-native:operationalinsights:Workspace",
            ("workspaceName",)),
    ArmType("Microsoft.MachineLearningServices/workspaces", "azure-native:machinelearningservices:Workspace",
            ("workspaceName",)),
    ArmType("Microsoft.MachineLearningServices/workspaces/computes", "azure-native:machinelearningservices:Compute",
            ("workspaceName", "computeName"), flatten="none"),
    ArmType("Microsoft.CognitiveServices/accounts", "azure-native:cognitiveservices:Account", ("accountName",),
            flatten="none"),
    ArmType("Microsoft.ContainerRegistry/registries", "azure-native:containerregistry:Registry", ("registryName",)),
    # Resources that run commands or deploy templates the pack can't read (see coverage.py).
    ArmType("Microsoft.Resources/deploymentScripts", "azure-native:resources:AzureCliScript", ("scriptName",),
            aliases=("azure-native:resources:AzurePowerShellScript",)),
    ArmType("Microsoft.Blueprint/blueprintAssignments", "azure-native:blueprint:Assignment", ("assignmentName",),
            scope="resourceScope"),
    ArmType("Microsoft.Solutions/applications", "azure-native:solutions:Application", ("applicationName",)),
    ArmType("Microsoft.Resources/resourceGroups", "azure-native:resources:ResourceGroup", ("resourceGroupName",)),
)

#: Case-folded ARM type -> how it maps onto azure-native.
ARM_TYPES: Mapping[str, ArmType] = {t.arm_type.casefold(): t for t in _ARM_TYPES}

#: Case-folded canonical token -> its canonical spelling, for every type the pack knows by name.
_KNOWN_TOKENS = {token.casefold(): token for t in _ARM_TYPES for token in t.tokens}


def arm_type(namespace_and_type: str) -> ArmType | None:
    """The mapping of an ARM type (``Microsoft.Storage/storageAccounts``, any case), if the pack knows it.

    An extension resource written in the older ``<resource type>/providers/<extension type>`` form
    (``Microsoft.Storage/storageAccounts/providers/roleAssignments``, with the extension's namespace in
    its name, ``acct/Microsoft.Authorization/<guid>``) is the extension type it names.
    """
    folded = namespace_and_type.strip().casefold()
    return ARM_TYPES.get(folded) or _extension_type(folded)


def is_extension_form(namespace_and_type: str) -> bool:
    """Whether an ARM type is written as ``<resource type>/providers/<extension type>``."""
    head, sep, _ = namespace_and_type.strip().casefold().partition("/providers/")
    return bool(sep and head)


def _extension_type(folded: str) -> ArmType | None:
    if not is_extension_form(folded):
        return None
    tail = [part for part in folded.partition("/providers/")[2].split("/") if part]
    if tail and "." in tail[0]:  # the extension's namespace written in the type
        return ARM_TYPES.get("/".join(tail))
    wanted = "/".join(tail)
    # Without its namespace, the extension is the one extension type (a type with a scope) of that name.
    matches = [t for t in _ARM_TYPES if t.scope and t.arm_type.casefold().split("/", 1)[1] == wanted]
    return matches[0] if len(matches) == 1 else None


def _azure_native_module(package: str, module: str) -> str | None:
    """The module of an azure-native token's package and module parts; None for any other package."""
    base = module.split("/", 1)[0]
    if package.casefold() == AZURE_NATIVE:
        return base.casefold()
    local = _LOCAL_PACKAGE.match(package)
    if local and local.group("module").casefold() == base.casefold():
        return base.casefold()
    return None


@functools.lru_cache(maxsize=2048)
def canonical_type(token: str) -> str:
    """Any spelling of an azure-native type -> its canonical v3 token; other tokens unchanged.

    ``azure-native:storage/v20230501:StorageAccount``, ``azure-native_storage_v20230101:storage:StorageAccount``
    and ``azure-native:Storage:storageaccount`` all give ``azure-native:storage:StorageAccount``;
    ``azure-native:insights:DiagnosticSetting`` gives ``azure-native:monitor:DiagnosticSetting``.
    """
    parts = token.split(":")
    if len(parts) != 3:
        return token
    package, module, name = parts
    base = _azure_native_module(package, module)
    if base is None or not name:
        return token
    base = _MODULE_ALIASES.get((base, name.casefold()), base)
    canonical = f"{AZURE_NATIVE}:{base}:{name}"
    return _KNOWN_TOKENS.get(canonical.casefold(), canonical)


def register_tokens(tokens: Iterable[str]) -> None:
    """Make the canonical spelling of ``tokens`` known, so case variants of them canonicalise to it."""
    added = False
    for token in tokens:
        if is_type_pattern(token) or token.casefold() in _KNOWN_TOKENS:
            continue
        _KNOWN_TOKENS[token.casefold()] = token
        added = True
    if added:
        canonical_type.cache_clear()


def is_type_pattern(token: str) -> bool:
    """Whether ``token`` is a package pattern (``azapi:*``, ``azure-native_*:*``) rather than a type."""
    return token.endswith(":*")


def pattern_matches(token: str, pattern: str) -> bool:
    """Whether ``token`` is in the package ``pattern`` names: ``azure:*`` is package ``azure``,
    ``azure-native_*:*`` every package whose name starts with ``azure-native_``. A recognised
    azure-native spelling is a type, never in a pattern."""
    if canonical_type(token).startswith(f"{AZURE_NATIVE}:"):
        return False
    package = token.split(":", 1)[0]
    wanted = pattern[:-2]
    if wanted.endswith("*"):
        return package.startswith(wanted[:-1])
    return package == wanted


def type_matches(token: str, types: Iterable[str]) -> bool:
    """Whether ``token`` (any spelling) is one of ``types`` (canonical tokens or package patterns)."""
    canonical = canonical_type(token)
    for t in types:
        if is_type_pattern(t):
            if pattern_matches(token, t):
                return True
        elif canonical == canonical_type(t):
            return True
    return False


def spellings(token: str) -> list[str]:
    """How else ``token`` (a canonical azure-native token) may be written, for the catalogue."""
    if not token.startswith(f"{AZURE_NATIVE}:"):
        return []
    _, module, name = token.split(":")
    result = [f"{AZURE_NATIVE}:{module}/<version>:{name}", f"{AZURE_NATIVE}_{module}_<version>:{module}:{name}"]
    result += [f"{AZURE_NATIVE}:{old}:{name}" for (old, folded), new in _MODULE_ALIASES.items()
               if new == module and folded == name.casefold()]
    return result


def arm_types_of(token: str) -> list[str]:
    """The ARM types that map onto ``token`` (canonical), for the catalogue."""
    return [t.arm_type for t in _ARM_TYPES if token in t.tokens]
