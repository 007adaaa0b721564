"""Coverage: resources that can create Azure resources the pack can't see into.

The pack judges azure-native resources in every spelling (``_types``) and what generic resources
and template deployments create (``_opaque``). A dynamic provider, the ``command`` provider and a
deployment script (azure-native's ``AzureCliScript``/``AzurePowerShellScript``, ARM's
``Microsoft.Resources/deploymentScripts``) run arbitrary commands at deployment; blueprint assignments
and managed applications deploy templates the pack is not given; the classic ``azure`` provider,
``azapi``, the retired ``azure-nextgen`` and ``azuread`` (Entra ID roles, app permissions and
credentials) create resources under types no policy reads. Each of them is blocked here, by name,
until someone reviews it and waives it. The one exception is azapi's ``Resource`` with a literal
``type`` (``Microsoft.Storage/storageAccounts@2023-05-01``): like a generic resource, it is judged by
what its type and body create.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ._opaque import AZAPI_RESOURCE, azapi_arm_type
from ._props import peek
from ._types import AZURE_NATIVE, canonical_type
from .metadata import Control, resource_rule

DYNAMIC_PYTHON = "pulumi-python:dynamic:Resource"
DYNAMIC_NODEJS = "pulumi-nodejs:dynamic:Resource"

#: What each package is, for messages.
_PACKAGES = {
    "azure": "the classic 'azure' provider",
    "azapi": "the 'azapi' provider (only its Resource with a literal type is judged, like a generic resource)",
    "azure-nextgen": "the retired 'azure-nextgen' provider",
    "azuread": "the 'azuread' provider, which grants Entra ID directory roles, app permissions and credentials",
    "command": "the 'command' provider, which runs commands at deployment",
}

#: azure-native resources (and the ARM types they map from) whose effect no policy can read: each
#: runs commands with its identity's rights, or deploys a template the pack is not given.
_OPAQUE_AZURE = {
    "azure-native:resources:AzureCliScript": "it is a deployment script, which runs commands at deployment with "
                                             "its identity's rights",
    "azure-native:resources:AzurePowerShellScript": "it is a deployment script, which runs commands at deployment "
                                                    "with its identity's rights",
    "azure-native:blueprint:Assignment": "it is a blueprint assignment, which deploys the blueprint's artifacts",
    "azure-native:solutions:Application": "it is a managed application, which deploys its definition's template",
}


def _unevaluated(token: str, props: Any) -> str | None:
    """Why the pack can't see what a resource of type ``token`` creates, or None when it can."""
    if token == AZAPI_RESOURCE and azapi_arm_type(peek(props, "type")) is not None:
        return None  # judged like a generic resource, by what its type and body create (_opaque)
    if token in (DYNAMIC_PYTHON, DYNAMIC_NODEJS):
        return "it is a dynamic provider resource, whose code decides at deployment what it creates"
    if canonical_type(token) in _OPAQUE_AZURE:
        return _OPAQUE_AZURE[canonical_type(token)]
    package = token.split(":", 1)[0]
    if package in _PACKAGES:
        return f"it belongs to {_PACKAGES[package]}, whose resources no policy of this pack evaluates"
    if package.startswith(f"{AZURE_NATIVE}_") and not canonical_type(token).startswith(f"{AZURE_NATIVE}:"):
        return f"its package '{package}' is not an azure-native local SDK the pack recognises"
    return None


@resource_rule(Control(
    slug="unevaluated-resource-provider",
    description="Resources must be declared through a provider the pack evaluates (azure-native); dynamic "
                "providers, other Azure-capable packages, deployment scripts, commands and resources that "
                "deploy templates the pack is not given are blocked until reviewed.",
    severity=Severity.HIGH,
    resource_types=(DYNAMIC_PYTHON, DYNAMIC_NODEJS, *_OPAQUE_AZURE, *(f"{package}:*" for package in _PACKAGES),
                    "azure-native_*:*"),
    remediation="Declare the resource with azure-native (any API version or local SDK), so the policies can "
                "judge it. If it must stay, review what it creates and add a waiver for this policy and the "
                "resource.",
    mcsb=("~PV-1",),
))
def unevaluated_resource_provider(args, config):
    reason = _unevaluated(args.resource_type, args.props)
    if reason:
        yield (f"Resource '{args.name}' of type '{args.resource_type}' is not evaluated by this pack: {reason}; "
               "declare what it creates with azure-native, or waive this policy for it after review.")


RULES = (
    unevaluated_resource_provider,
)
