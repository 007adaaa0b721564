"""The plan of a generated program as an ARM template, for timing Checkov on the same resources.

Input: the document of ``crossgate preview --format json``. Each azure-native resource becomes an
ARM resource of the matching type: the inputs ARM keeps at the top (``location``, ``tags``, ``sku``,
``kind``, ``identity``) stay there, the resource's own name and its parents' names (path
parameters) are dropped, and everything else goes under ``properties`` with ARM's names where
azure-native renamed them. Sub-resources written inline (NSG rules, Private Link connections, DNS
zone configs) get ARM's ``{name, properties}`` shape. Values unknown during preview become an ARM
expression naming the output, as a template would reference it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

API_VERSION = "2023-05-01"
TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "zones")
#: azure-native token -> (ARM type, the input holding the resource's own name).
TYPES = {
    "azure-native:resources:ResourceGroup": ("Microsoft.Resources/resourceGroups", "resourceGroupName"),
    "azure-native:operationalinsights:Workspace": ("Microsoft.OperationalInsights/workspaces", "workspaceName"),
    "azure-native:network:VirtualNetwork": ("Microsoft.Network/virtualNetworks", "virtualNetworkName"),
    "azure-native:network:NetworkSecurityGroup": ("Microsoft.Network/networkSecurityGroups",
                                                  "networkSecurityGroupName"),
    "azure-native:network:Subnet": ("Microsoft.Network/virtualNetworks/subnets", "subnetName"),
    "azure-native:privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones", "privateZoneName"),
    "azure-native:privatedns:VirtualNetworkLink": ("Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                                                   "virtualNetworkLinkName"),
    "azure-native:managedidentity:UserAssignedIdentity": ("Microsoft.ManagedIdentity/userAssignedIdentities",
                                                          "resourceName"),
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName"),
    "azure-native:storage:BlobServiceProperties": ("Microsoft.Storage/storageAccounts/blobServices",
                                                   "blobServicesName"),
    "azure-native:storage:BlobContainer": ("Microsoft.Storage/storageAccounts/blobServices/containers",
                                           "containerName"),
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName"),
    "azure-native:network:PrivateEndpoint": ("Microsoft.Network/privateEndpoints", "privateEndpointName"),
    "azure-native:network:PrivateDnsZoneGroup": ("Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
                                                 "privateDnsZoneGroupName"),
    "azure-native:authorization:RoleAssignment": ("Microsoft.Authorization/roleAssignments", "roleAssignmentName"),
    "azure-native:monitor:DiagnosticSetting": ("Microsoft.Insights/diagnosticSettings", "name"),
}
#: Path parameters naming a parent: not properties of the resource.
PATH_PARAMETERS = {"resourceGroupName", "accountName", "virtualNetworkName", "privateZoneName",
                   "privateEndpointName", "vaultName", "resourceUri"}
#: azure-native input name -> ARM property name, where they differ.
RENAMES = {
    "Microsoft.Storage/storageAccounts": {"enableHttpsTrafficOnly": "supportsHttpsTrafficOnly",
                                          "networkRuleSet": "networkAcls"},
    "Microsoft.Insights/diagnosticSettings": {},
}
#: Inline sub-resources that ARM writes as ``{name, properties}``.
INLINE = {"securityRules", "privateLinkServiceConnections", "privateDnsZoneConfigs"}


def _value(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        if value.get("$unknown"):
            return f"[reference('{where}').outputs]"
        if value.get("$secret"):
            return "[parameters('secret')]"
        return {k: _value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _inline(items: list[Any], where: str) -> list[Any]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(_value(item, where))
            continue
        rest = {k: v for k, v in item.items() if k != "name"}
        out.append({"name": _value(item.get("name", f"item{i}"), where), "properties": _value(rest, where)})
    return out


def arm_resource(resource: dict[str, Any]) -> dict[str, Any] | None:
    mapped = TYPES.get(resource.get("type", ""))
    if mapped is None:
        return None
    arm_type, name_key = mapped
    inputs = dict(resource.get("inputs") or {})
    name = inputs.pop(name_key, None)
    if not isinstance(name, str):
        name = resource["name"]
    out: dict[str, Any] = {"type": arm_type, "apiVersion": API_VERSION, "name": name}
    for key in TOP_LEVEL:
        if key in inputs:
            out[key] = _value(inputs.pop(key), resource["name"])
    renames = RENAMES.get(arm_type, {})
    properties: dict[str, Any] = {}
    nested = inputs.pop("properties", None) if arm_type == "Microsoft.KeyVault/vaults" else None
    for key, value in inputs.items():
        if key in PATH_PARAMETERS:
            continue
        if key in INLINE and isinstance(value, list):
            properties[renames.get(key, key)] = _inline(value, resource["name"])
        else:
            properties[renames.get(key, key)] = _value(value, resource["name"])
    if isinstance(nested, dict):
        properties.update(_value(nested, resource["name"]))
    out["properties"] = properties
    return out


def template(document: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The ARM template of a preview document, and how many resources it holds."""
    resources = [r for r in (arm_resource(r) for r in document.get("resources") or []) if r is not None]
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"secret": {"type": "securestring"}},
        "resources": resources,
    }, len(resources)


def write(document: dict[str, Any], path: Path) -> int:
    doc, count = template(document)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return count
