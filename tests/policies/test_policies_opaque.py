"""Issue 12, item 2: generic resources and ARM template deployments are judged by what they create.

Each case is one opaque resource named by its outcome. ``pass-*`` creates only compliant resources
and has no finding; ``fail-*`` has exactly the expected findings, on the opaque resource, with a
message naming the template (or generic) resource; ``indeterminate-*`` has a policy that could not
read a value the template leaves open, and blocks. Resource-policy cases run with every resource
policy mandatory and the stack policies off; the stack cases run with every policy on.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter

import pytest
from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity

from crossgate.model import Level
from crossgate.testing import Resource, evaluate
from crossgate.wire import UNKNOWN as U
from crossgate_azure_policies import rules
from crossgate_azure_policies._opaque import expand
from crossgate_azure_policies._props import UnknownValueError, get
from crossgate_azure_policies._stack import StackView
from crossgate_azure_policies._types import ARM_TYPES, arm_type
from crossgate_azure_policies.metadata import Control, Rule
from helpers import FIXTURES, run_crossgate
from policy_stack import REPO_PACK, baseline

KIND = {r.name: r.kind for r in rules()}
ALL_MANDATORY = {"all": "mandatory"}
RESOURCE_POLICIES_ONLY = {**ALL_MANDATORY, **{name: "disabled" for name, kind in KIND.items() if kind == "stack"}}
UAMI_ID = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-data/providers/"
           "Microsoft.ManagedIdentity/userAssignedIdentities/uami")

#: The compliant baseline's storage account as an ARM body: ARM names (networkAcls,
#: supportsHttpsTrafficOnly, keyvaultproperties, encryption.identity) under ``properties``.
ACCOUNT_PROPERTIES = {
    "accessTier": "Hot", "allowBlobPublicAccess": False, "publicNetworkAccess": "Disabled",
    "supportsHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": False,
    "defaultToOAuthAuthentication": True, "allowCrossTenantReplication": False, "isLocalUserEnabled": False,
    "isSftpEnabled": False, "allowedCopyScope": "PrivateLink",
    "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
    "sasPolicy": {"sasExpirationPeriod": "0.01:00:00", "expirationAction": "Block"},
    "keyPolicy": {"keyExpirationPeriodInDays": 90},
    "encryption": {"keySource": "Microsoft.Keyvault", "requireInfrastructureEncryption": True,
                   "keyvaultproperties": {"keyvaulturi": "https://aidata-kv-01.vault.azure.net", "keyname": "storage-cmk"},
                   "identity": {"userAssignedIdentity": UAMI_ID}},
}
ACCOUNT_TOP = {"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_GZRS"},
               "identity": {"type": "UserAssigned", "userAssignedIdentities": {UAMI_ID: {}}}}
CONTAINER_PROPERTIES = {"publicAccess": "None", "immutableStorageWithVersioning": {"enabled": True},
                        "defaultEncryptionScope": "training", "denyEncryptionScopeOverride": True}


def account(name: str = "acct1", type_: str = "Microsoft.Storage/storageAccounts", **changes) -> dict:
    """A template resource: the compliant account with ``changes`` to its ARM properties."""
    return {"type": type_, "apiVersion": "2023-05-01", "name": name, **copy.deepcopy(ACCOUNT_TOP),
            "properties": {**copy.deepcopy(ACCOUNT_PROPERTIES), **changes}}


def renamed(resource: dict, key: str, spelled: str, value) -> dict:
    """``resource`` with ARM property ``key`` written as ``spelled`` (ARM ignores case) and set to ``value``."""
    del resource["properties"][key]
    resource["properties"][spelled] = value
    return resource


def vault(**changes) -> dict:
    properties = copy.deepcopy(baseline()["kv"].props["properties"])
    properties.update(changes)
    return {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv1", "location": "westeurope",
            "properties": properties}


def template(*resources, parameters=None, variables=None) -> dict:
    doc = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
           "contentVersion": "1.0.0.0", "resources": list(resources)}
    if parameters:
        doc["parameters"] = parameters
    if variables:
        doc["variables"] = variables
    return doc


def deployment(name: str, tmpl, *, type_: str = "azure-native:resources:Deployment", supplied=None,
               **properties) -> Resource:
    props = {"mode": "Incremental", "template": tmpl, **properties}
    if supplied is not None:
        props["parameters"] = supplied
    inputs = {"properties": props}
    if type_ == "azure-native:resources:Deployment":
        inputs["resourceGroupName"] = "rg-data"
    elif type_ == "azure-native:resources:DeploymentAtManagementGroupScope":
        inputs["groupId"] = "mg-data"
    elif type_ == "azure-native:resources:DeploymentAtScope":
        inputs["scope"] = "/subscriptions/00000000-0000-0000-0000-000000000001"
    elif type_.startswith("azure-native:resources:DeploymentStack"):
        inputs = {"template": tmpl, "actionOnUnmanage": {"resources": "delete"},
                  "denySettings": {"mode": "none"}, **({"parameters": supplied} if supplied else {})}
    return Resource(type_, name, inputs)


def generic(name: str, namespace: str, resource_type: str, resource_name: str, properties, *,
            parent_path: str | None = None, type_: str = "azure-native:resources:Resource", **top) -> Resource:
    inputs = {"resourceProviderNamespace": namespace, "resourceType": resource_type, "resourceName": resource_name,
              "resourceGroupName": "rg-data", "apiVersion": "2023-05-01", "properties": properties, **top}
    if parent_path is not None:
        inputs["parentResourcePath"] = parent_path
    return Resource(type_, name, inputs)


ACCOUNT_ORIGIN = "template resource 'Microsoft.Storage/storageAccounts' 'acct1': "
PUB = ACCOUNT_ORIGIN + ("Storage account 'acct1' may allow anonymous blob access (allowBlobPublicAccess is true); "
                        "set it to false.")
NESTED_CONTAINER = {"type": "blobServices", "apiVersion": "2023-05-01", "name": "default", "properties": {},
                    "resources": [{"type": "containers", "apiVersion": "2023-05-01", "name": "data",
                                   "properties": {**CONTAINER_PROPERTIES, "publicAccess": "Container"}}]}

#: name -> (opaque resource, expected violations as {(policy, exact message)}).
FAIL = {
    "pass-template-account": (deployment("pass-template-account", template(account())), set()),
    "pass-generic-account": (generic("pass-generic-account", "Microsoft.Storage", "storageAccounts", "acct1",
                                     copy.deepcopy(ACCOUNT_PROPERTIES), **copy.deepcopy(ACCOUNT_TOP)), set()),
    "pass-template-condition-false": (deployment("pass-template-condition-false", template(
        {**account(allowBlobPublicAccess=True), "condition": False})), set()),
    "pass-template-existing": (deployment("pass-template-existing", {**template(), "languageVersion": "2.0",
        "resources": {"acct": {**account(allowBlobPublicAccess=True), "existing": True}}}), set()),
    "fail-generic-deployment": (
        generic("fail-generic-deployment", "Microsoft.Resources", "deployments", "inner",
                {"mode": "Incremental", "template": template(account(allowBlobPublicAccess=True))}),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-generic-deployment-stack": (
        generic("fail-generic-deployment-stack", "Microsoft.Resources", "deploymentStacks", "stack1",
                {"template": template(account(allowBlobPublicAccess=True)), "actionOnUnmanage": {"resources": "delete"},
                 "denySettings": {"mode": "none"}}),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-public-blob": (deployment("fail-template-public-blob", template(account(allowBlobPublicAccess=True))),
                                  {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-renamed-firewall": (
        deployment("fail-template-renamed-firewall", template(account(networkAcls={"defaultAction": "Allow",
                                                                                   "bypass": "AzureServices"}))),
        {("storage-network-default-deny", ACCOUNT_ORIGIN + "Storage account 'acct1' allows all networks through its "
          "firewall (networkRuleSet.defaultAction is 'Allow'); set it to 'Deny'.")}),
    "fail-template-renamed-https": (
        deployment("fail-template-renamed-https", template(account(supportsHttpsTrafficOnly=False))),
        {("storage-https-only", ACCOUNT_ORIGIN + "Storage account 'acct1' accepts plain HTTP "
          "(enableHttpsTrafficOnly is false); set it to true.")}),
    "fail-template-case-insensitive": (
        deployment("fail-template-case-insensitive", template(renamed(
            account(type_="microsoft.storage/STORAGEACCOUNTS"), "allowBlobPublicAccess", "AllowBlobPublicAccess", True))),
        {("storage-disallow-public-blob-access", PUB.replace("'Microsoft.Storage/storageAccounts'",
                                                             "'microsoft.storage/STORAGEACCOUNTS'"))}),
    "fail-template-supplied-parameter": (
        deployment("fail-template-supplied-parameter", template(
            account(allowBlobPublicAccess="[parameters('anonymous')]"), parameters={"anonymous": {"type": "bool"}}),
            supplied={"anonymous": {"value": True}}),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-default-parameter": (
        deployment("fail-template-default-parameter", template(
            account(allowBlobPublicAccess="[parameters('anonymous')]"),
            parameters={"anonymous": {"type": "bool", "defaultValue": True}})),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-variable": (
        deployment("fail-template-variable", template(account(publicNetworkAccess="[variables('access')]"),
                                                      variables={"access": "Enabled"})),
        {("storage-disable-public-network-access", ACCOUNT_ORIGIN + "Storage account 'acct1' allows public network "
          "access (publicNetworkAccess is 'Enabled'); set it to 'Disabled'.")}),
    "fail-template-nested-child": (
        deployment("fail-template-nested-child", template({**account(), "resources": [NESTED_CONTAINER]})),
        {("container-no-public-access", "template resource 'Microsoft.Storage/storageAccounts/blobServices/"
          "containers' 'acct1/default/data': Blob container 'data' allows anonymous access (publicAccess is "
          "'Container'); set it to 'None'.")}),
    "fail-template-nested-deployment": (
        deployment("fail-template-nested-deployment", template({
            "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
            "properties": {"mode": "Incremental", "template": template(account(allowBlobPublicAccess=True))}})),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-inner-scope-parameter": (
        deployment("fail-template-inner-scope-parameter", template({
            "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
            "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                           "parameters": {"anonymous": {"value": "[parameters('outer')]"}},
                           "template": template(account(allowBlobPublicAccess="[parameters('anonymous')]"),
                                                parameters={"anonymous": {"type": "bool"}})}},
            parameters={"outer": {"type": "bool", "defaultValue": True}})),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-language-v2": (
        deployment("fail-template-language-v2", {**template(), "languageVersion": "2.0",
                                                 "resources": {"acct": account(allowBlobPublicAccess=True)}}),
        {("storage-disallow-public-blob-access", PUB)}),
    "fail-template-key-vault": (
        deployment("fail-template-key-vault", template(vault(enableRbacAuthorization=False))),
        {("kv-rbac-authorization", "template resource 'Microsoft.KeyVault/vaults' 'kv1': Key vault 'kv1' uses access "
          "policies instead of RBAC (properties.enableRbacAuthorization is false); set it to true.")}),
    "fail-generic-account": (
        generic("fail-generic-account", "Microsoft.Storage", "storageAccounts", "acct1",
                {**copy.deepcopy(ACCOUNT_PROPERTIES), "publicNetworkAccess": "Enabled"}, **copy.deepcopy(ACCOUNT_TOP)),
        {("storage-disable-public-network-access", "generic resource 'Microsoft.Storage/storageAccounts' 'acct1': "
          "Storage account 'acct1' allows public network access (publicNetworkAccess is 'Enabled'); set it to "
          "'Disabled'.")}),
    "fail-generic-child": (
        generic("fail-generic-child", "microsoft.storage", "containers", "data",
                {**CONTAINER_PROPERTIES, "publicAccess": "Blob"}, parent_path="storageAccounts/acct1/blobServices/default"),
        {("container-no-public-access", "generic resource 'microsoft.storage/storageAccounts/blobServices/containers' "
          "'acct1/default/data': Blob container 'data' allows anonymous access (publicAccess is 'Blob'); set it to "
          "'None'.")}),
    "fail-generic-local-sdk": (
        generic("fail-generic-local-sdk", "Microsoft.Storage", "storageAccounts", "acct1",
                {**copy.deepcopy(ACCOUNT_PROPERTIES), "publicNetworkAccess": "Enabled"},
                type_="azure-native_resources_v20240301:resources:Resource", **copy.deepcopy(ACCOUNT_TOP)),
        {("storage-disable-public-network-access", "generic resource 'Microsoft.Storage/storageAccounts' 'acct1': "
          "Storage account 'acct1' allows public network access (publicNetworkAccess is 'Enabled'); set it to "
          "'Disabled'.")}),
}
for scope_type in ("DeploymentAtScope", "DeploymentAtSubscriptionScope", "DeploymentAtManagementGroupScope",
                   "DeploymentAtTenantScope", "DeploymentStackAtResourceGroup", "DeploymentStackAtSubscription",
                   "DeploymentStackAtManagementGroup"):
    case = f"fail-{scope_type.lower()}"
    FAIL[case] = (deployment(case, template(account(allowBlobPublicAccess=True)),
                             type_=f"azure-native:resources:{scope_type}"),
                  {("storage-disallow-public-blob-access", PUB)})

LINKED = {"uri": "https://example.com/storage.json", "contentVersion": "1.0.0.0"}
EVERY_TYPED_RESOURCE_POLICY = {r.name for r in rules()
                               if r.kind == "resource" and any(t.startswith("azure-native:")
                                                               for t in r.control.resource_types)}

#: name -> (opaque resource, the policies that must be indeterminate, a substring of each message).
INDETERMINATE = {
    "indeterminate-template-expression": (
        deployment("indeterminate-template-expression", template(account(
            allowBlobPublicAccess="[if(equals(parameters('env'), 'prod'), false(), true())]"),
            parameters={"env": {"type": "string"}}), supplied={"env": {"value": "prod"}}),
        {"storage-disallow-public-blob-access"},
        ACCOUNT_ORIGIN + "allowBlobPublicAccess is set by a template expression, so it can't be known during preview"),
    "indeterminate-template-missing-parameter": (
        deployment("indeterminate-template-missing-parameter", template(
            account(minimumTlsVersion="[parameters('tls')]"), parameters={"tls": {"type": "string"}})),
        {"storage-min-tls-1-2"},
        ACCOUNT_ORIGIN + "minimumTlsVersion is the parameter 'tls' without a literal value"),
    "indeterminate-template-secure-parameter": (
        deployment("indeterminate-template-secure-parameter", template(
            account(allowSharedKeyAccess="[parameters('shared')]"), parameters={"shared": {"type": "securestring"}}),
            supplied={"shared": {"value": "false"}}),
        {"storage-disable-shared-key"},
        ACCOUNT_ORIGIN + "allowSharedKeyAccess is the secure parameter 'shared'"),
    "indeterminate-template-pulumi-unknown": (
        deployment("indeterminate-template-pulumi-unknown", template(
            account(allowBlobPublicAccess="[parameters('anonymous')]"), parameters={"anonymous": {"type": "bool"}}),
            supplied={"anonymous": {"value": U}}),
        {"storage-disallow-public-blob-access"},
        ACCOUNT_ORIGIN + "allowBlobPublicAccess is unknown until deployment"),
    "indeterminate-template-parameters-file": (
        deployment("indeterminate-template-parameters-file", template(
            account(allowBlobPublicAccess="[parameters('anonymous')]"), parameters={"anonymous": {"type": "bool"}}),
            parametersLink={"uri": "https://example.com/params.json"}),
        {"storage-disallow-public-blob-access"},
        ACCOUNT_ORIGIN + "allowBlobPublicAccess is the parameter 'anonymous', from a parameters file"),
    "indeterminate-template-link": (
        Resource("azure-native:resources:Deployment", "indeterminate-template-link",
                 {"resourceGroupName": "rg-data", "properties": {"mode": "Incremental", "templateLink": LINKED}}),
        EVERY_TYPED_RESOURCE_POLICY,
        "deployment 'indeterminate-template-link' deploys a linked template (templateLink), so what it creates "
        "can't be known during preview"),
    "indeterminate-nested-template-link": (
        deployment("indeterminate-nested-template-link", template(account(), {
            "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
            "properties": {"mode": "Incremental", "templateLink": LINKED}})),
        EVERY_TYPED_RESOURCE_POLICY,
        "template resource 'Microsoft.Resources/deployments' 'linked' deploys a linked template (templateLink)"),
    "indeterminate-template-unknown": (
        Resource("azure-native:resources:Deployment", "indeterminate-template-unknown",
                 {"resourceGroupName": "rg-data", "properties": {"mode": "Incremental", "template": U}}),
        EVERY_TYPED_RESOURCE_POLICY,
        "deployment 'indeterminate-template-unknown' has a template that is not a literal"),
    "indeterminate-generic-type-unknown": (
        generic("indeterminate-generic-type-unknown", "Microsoft.Storage", U, "acct1", {}),
        EVERY_TYPED_RESOURCE_POLICY,
        "generic resource 'indeterminate-generic-type-unknown' has a resource provider namespace or type that is "
        "not a literal"),
}

OWNER_ASSIGNMENT = {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "ra1",
                    "properties": {"roleDefinitionId": "/subscriptions/00000000-0000-0000-0000-000000000001/providers/"
                                   "Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                                   "principalId": "11111111-1111-4111-8111-111111111111",
                                   "principalType": "ServicePrincipal"}}
NSG_WITH_COPY_LOOP = {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01", "name": "nsg1",
                      "location": "westeurope", "properties": {"copy": [{"name": "securityRules", "count": 2, "input": {
                          "name": "[concat('rule-', copyIndex('securityRules'))]", "properties": {
                              "access": "Allow", "direction": "Inbound", "protocol": "Tcp", "priority": 100,
                              "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
                              "destinationPortRange": "22"}}}]}}


def test_property_copy_loop_is_indeterminate_not_absent(resource_gate):
    findings = _of(resource_gate, "indeterminate-template-copy-loop")
    assert [f for f in findings if f.kind.value == "violation"] == []
    ssh = [f for f in findings if f.policy == "nsg-deny-ssh-from-internet"]
    assert [f.kind.value for f in ssh] == ["indeterminate"]
    assert ("template resource 'Microsoft.Network/networkSecurityGroups' 'nsg1': securityRules is generated by a "
            "property copy loop, so it can't be known during preview") in ssh[0].message


ACCOUNT_RESOURCE_POLICIES = {r.name for r in rules() if r.kind == "resource"
                             and "azure-native:storage:StorageAccount" in r.control.resource_types}
INDETERMINATE["indeterminate-generic-properties-unknown"] = (
    generic("indeterminate-generic-properties-unknown", "Microsoft.Storage", "storageAccounts", "acct1", U,
            **copy.deepcopy(ACCOUNT_TOP)),
    # kind and sku are top-level inputs, known; everything under properties is not.
    ACCOUNT_RESOURCE_POLICIES - {"storage-kind-storagev2", "storage-geo-redundant"},
    "generic resource 'Microsoft.Storage/storageAccounts' 'acct1': ")

#: Resources the coverage policy must block, and some it must leave alone.
UNEVALUATED = {
    "fail-dynamic-python": Resource("pulumi-python:dynamic:Resource", "fail-dynamic-python", {"__provider": "x"}),
    "fail-dynamic-nodejs": Resource("pulumi-nodejs:dynamic:Resource", "fail-dynamic-nodejs", {"__provider": "x"}),
    "fail-azure-classic": Resource("azure:storage/account:Account", "fail-azure-classic",
                                   {"allowNestedItemsToBePublic": True}),
    # azapi's Resource with a literal type is judged like a generic resource (test_policies_adversarial).
    "fail-azapi": Resource("azapi:index/updateResource:UpdateResource", "fail-azapi",
                           {"type": "Microsoft.Storage/storageAccounts@2023-05-01", "body": {}}),
    "fail-azure-nextgen": Resource("azure-nextgen:storage/latest:StorageAccount", "fail-azure-nextgen", {}),
}
UNEVALUATED_REASONS = {
    "fail-dynamic-python": "it is a dynamic provider resource",
    "fail-dynamic-nodejs": "it is a dynamic provider resource",
    "fail-azure-classic": "it belongs to the classic 'azure' provider",
    "fail-azapi": "it belongs to the 'azapi' provider",
    "fail-azure-nextgen": "it belongs to the retired 'azure-nextgen' provider",
}
LEFT_ALONE = [
    Resource("pulumi:providers:azure", "pass-provider-resource", {"location": "westeurope"}),
    Resource("azure-native:compute:VirtualMachine", "pass-uncovered-azure-native", {"location": "westeurope"}),
    generic("pass-generic-uncovered", "Microsoft.Compute", "virtualMachines", "vm1", {}),
]


@pytest.fixture(scope="module")
def resource_gate():
    resources = [r for r, _ in FAIL.values()] + [r for r, _, _ in INDETERMINATE.values()]
    resources += list(UNEVALUATED.values()) + LEFT_ALONE
    resources.append(deployment("indeterminate-template-copy-loop", template(NSG_WITH_COPY_LOOP)))
    resources.append(deployment("fail-template-owner-assignment", template(OWNER_ASSIGNMENT)))
    return evaluate(REPO_PACK, resources, config=RESOURCE_POLICIES_ONLY, parallel=2)


def _of(gate, name):
    return [f for f in gate.findings if f.name == name]


def test_evaluation_completes(resource_gate):
    assert resource_gate.errors == ()


@pytest.mark.parametrize("case", sorted(FAIL))
def test_opaque_resource_is_judged_by_what_it_creates(resource_gate, case):
    _, expected = FAIL[case]
    findings = _of(resource_gate, case)
    assert {(f.kind.value, f.policy, f.message) for f in findings} == {("violation", p, m) for p, m in expected}
    assert all(f.level is Level.MANDATORY for f in findings)


@pytest.mark.parametrize("case", sorted(INDETERMINATE))
def test_what_a_template_leaves_open_is_indeterminate(resource_gate, case):
    _, policies, message = INDETERMINATE[case]
    findings = _of(resource_gate, case)
    assert [f for f in findings if f.kind.value == "violation"] == []
    indeterminate = [f for f in findings if f.kind.value == "indeterminate"]
    assert Counter(f.policy for f in indeterminate) == Counter(policies)
    assert all(message in f.message for f in indeterminate), indeterminate[0].message
    assert all(f.level is Level.MANDATORY for f in indeterminate)


def test_secure_parameter_value_is_never_printed(resource_gate):
    assert all("'false'" not in f.message for f in _of(resource_gate, "indeterminate-template-secure-parameter"))


@pytest.mark.parametrize("case", sorted(UNEVALUATED))
def test_unevaluated_provider_is_blocked_by_name(resource_gate, case):
    findings = _of(resource_gate, case)
    assert [(f.kind.value, f.policy) for f in findings] == [("violation", "unevaluated-resource-provider")]
    (finding,) = findings
    assert finding.message.startswith(
        f"Resource '{case}' of type '{UNEVALUATED[case].type}' is not evaluated by this pack: "
        f"{UNEVALUATED_REASONS[case]}")
    assert finding.level is Level.MANDATORY


def test_engine_resources_azure_native_and_uncovered_types_are_left_alone(resource_gate):
    assert [(f.policy, f.name) for r in LEFT_ALONE for f in _of(resource_gate, r.name)] == []


def test_unevaluated_provider_finding_can_be_waived(tmp_path):
    today = dt.date(2026, 11, 30)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n"
        "  - policy: unevaluated-resource-provider\n"
        "    resource: \"*::fail-dynamic-python\"\n"
        "    reason: Reviewed; the dynamic provider only writes a DNS record.\n"
        "    owner: platform@example.com\n"
        f"    expires: {today + dt.timedelta(days=30)}\n", encoding="utf-8")
    gate = evaluate(REPO_PACK, [UNEVALUATED["fail-dynamic-python"]], config=RESOURCE_POLICIES_ONLY,
                    waivers=str(waivers), today=today)
    assert [(f.policy, f.name) for f in gate.waived] == [("unevaluated-resource-provider", "fail-dynamic-python")]
    assert gate.violations == [] and gate.exit_code == 0


@pytest.fixture(scope="module")
def stack_gate():
    return evaluate(REPO_PACK, [
        deployment("fail-template-account-without-endpoint", template(account())),
        generic("fail-generic-vault-without-diagnostics", "Microsoft.KeyVault", "vaults", "kv1",
                copy.deepcopy(baseline()["kv"].props["properties"]), location="westeurope"),
    ], config=ALL_MANDATORY, parallel=2)


def test_stack_policies_see_what_a_template_creates(stack_gate):
    assert stack_gate.errors == ()
    findings = {(f.policy, f.message) for f in _of(stack_gate, "fail-template-account-without-endpoint")}
    assert ("storage-private-endpoint-required", ACCOUNT_ORIGIN + "Storage account 'acct1' has no private endpoint "
            "for 'blob'; add a network:PrivateEndpoint whose privateLinkServiceConnections target it with groupIds "
            "['blob'].") in findings
    assert ("blob-soft-delete-enabled", ACCOUNT_ORIGIN + "Storage account 'acct1' declares no blob service "
            "properties, so deleted blobs are not kept (Azure's default for accounts created through the API); "
            "declare a storage:BlobServiceProperties for it.") in findings


def test_stack_policies_see_what_a_generic_resource_creates(stack_gate):
    findings = {(f.policy, f.message) for f in _of(stack_gate, "fail-generic-vault-without-diagnostics")}
    assert ("diag-kv-audit-logs", "generic resource 'Microsoft.KeyVault/vaults' 'kv1': Key vault 'kv1' has no "
            "diagnostic setting, so its audit logs are not kept; add a monitor:DiagnosticSetting with categoryGroup "
            "'audit' (or 'allLogs', or category 'AuditEvent') and workspaceId set to the Log Analytics "
            "workspace.") in findings
    assert stack_gate.exit_code == 1


# -- the shapes virtual resources get ----------------------------------------------------------

def _expand_template(*resources):
    return expand("azure-native:resources:Deployment", "d", {"properties": {"template": template(*resources)}})


def test_network_bodies_are_flattened_deeply_as_azure_native_does():
    nsg, endpoint = _expand_template(
        {"type": "Microsoft.Network/networkSecurityGroups", "name": "nsg1", "location": "westeurope",
         "properties": {"securityRules": [{"name": "ssh", "properties": {
             "access": "Allow", "direction": "Inbound", "sourceAddressPrefix": "*", "destinationPortRange": "22"}}]}},
        {"type": "Microsoft.Network/privateEndpoints", "name": "pe1", "properties": {
            "subnet": {"id": "/subscriptions/1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"},
            "privateLinkServiceConnections": [{"name": "c", "properties": {
                "privateLinkServiceId": "/subscriptions/1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                "groupIds": ["blob"]}}]}})
    assert (nsg.token, nsg.name, get(nsg.props, "networkSecurityGroupName")) == (
        "azure-native:network:NetworkSecurityGroup", "nsg1", "nsg1")
    assert [get(nsg.props, f"securityRules.0.{k}") for k in ("name", "access", "sourceAddressPrefix")] == [
        "ssh", "Allow", "*"]
    assert get(nsg.props, "location") == "westeurope"
    assert get(endpoint.props, "privateLinkServiceConnections.0.groupIds.0") == "blob"
    assert get(endpoint.props, "privateLinkServiceConnections.0.privateLinkServiceId").endswith("/storageAccounts/a")


def test_storage_renames_and_child_names():
    (acct,) = _expand_template(account())
    assert get(acct.props, "encryption.keyVaultProperties.keyName") == "storage-cmk"
    assert get(acct.props, "encryption.encryptionIdentity.encryptionUserAssignedIdentity") == UAMI_ID
    assert get(acct.props, "networkRuleSet.defaultAction") == "Deny"
    assert get(acct.props, "enableHttpsTrafficOnly") is True
    _, service, container = _expand_template({**account(), "resources": [NESTED_CONTAINER]})
    assert [get(service.props, k) for k in ("accountName", "blobServicesName")] == ["acct1", "default"]
    assert [get(container.props, k) for k in ("accountName", "containerName")] == ["acct1", "data"]


def test_role_assignment_without_scope_reads_as_unknown():
    (assignment,) = _expand_template({"type": "Microsoft.Authorization/roleAssignments", "name": "ra1", "properties": {
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "principalId": "11111111-1111-4111-8111-111111111111"}})
    assert assignment.token == "azure-native:authorization:RoleAssignment"
    assert get(assignment.props, "roleDefinitionId").endswith("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
    with pytest.raises(UnknownValueError):
        get(assignment.props, "scope")


@pytest.mark.parametrize("arm, token", [
    ("Microsoft.Authorization/roleAssignments", "azure-native:authorization:RoleAssignment"),
    ("Microsoft.Authorization/roleEligibilityScheduleRequests", "azure-native:authorization:RoleEligibilityScheduleRequest"),
    ("Microsoft.Authorization/roleAssignmentScheduleRequests", "azure-native:authorization:RoleAssignmentScheduleRequest"),
    ("Microsoft.ManagedServices/registrationDefinitions", "azure-native:managedservices:RegistrationDefinition"),
    ("Microsoft.ManagedServices/registrationAssignments", "azure-native:managedservices:RegistrationAssignment"),
    ("Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
     "azure-native:network:AdminRule"),
    ("microsoft.storage/storageaccounts", "azure-native:storage:StorageAccount"),
])
def test_arm_types_map_to_azure_native_tokens(arm, token):
    assert arm_type(arm).token == token


def test_every_covered_azure_native_type_has_an_arm_mapping():
    covered = {t for r in rules() for t in r.control.resource_types if t.startswith("azure-native:")}
    mapped = {token for t in ARM_TYPES.values() for token in t.tokens}
    assert sorted(covered - mapped) == []


PIM = "azure-native:authorization:PimRoleEligibilitySchedule"
REQUEST = "azure-native:authorization:RoleEligibilityScheduleRequest"
PIM_REQUEST = {"type": "Microsoft.Authorization/roleEligibilityScheduleRequests", "apiVersion": "2022-04-01",
               "name": "pim1", "properties": {"principalId": "11111111-1111-4111-8111-111111111111",
                                              "requestType": "AdminAssign"}}


@pytest.mark.parametrize("types", [(PIM,), (REQUEST,), (PIM, REQUEST)], ids=["real-token", "request-token", "both"])
def test_a_policy_covering_any_token_of_an_arm_type_sees_it_once(types):
    rule = Rule(Control(slug="x-grants", description="d", severity=Severity.LOW, resource_types=types,
                        remediation="r"), check=lambda args, config: [f"{args.resource_type} {args.name}"],
                kind="resource")
    props = {"properties": {"template": template(PIM_REQUEST)}}
    args = ResourceValidationArgs("azure-native:resources:Deployment", props, "urn:d", "d", None, None, {}, {})
    seen = []
    rule._validate_resource(args, lambda message, urn=None: seen.append(message))
    assert seen == ["template resource 'Microsoft.Authorization/roleEligibilityScheduleRequests' 'pim1': "
                    f"{REQUEST} pim1"]
    stack = StackView([PolicyResource("azure-native:resources:Deployment", props, "urn:d", "d", None, None, None,
                                      [], {})])
    assert [(r.name, r.resource_type) for r in stack.of_type(*types)] == [("pim1", REQUEST)]
    (virtual,) = stack.of_type(*types)
    assert stack.is_type(virtual, types[0])


# -- a whole program, through the CLI ------------------------------------------------------------

def test_program_findings_point_at_the_line_declaring_the_opaque_resource():
    program = FIXTURES / "programs" / "opaque"
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--policy-pack", REPO_PACK,
                         "--parallel", "1", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["errors"] == []
    found = sorted((f["name"], f["source"]["line"], f["message"]) for f in doc["violations"]
                   if f["policy"] == "storage-disallow-public-blob-access")
    assert found == [
        ("generic-account", 19, "generic resource 'Microsoft.Storage/storageAccounts' 'acct2': Storage account 'acct2' "
         "may allow anonymous blob access (allowBlobPublicAccess is true); set it to false."),
        ("template-deployment", 13, PUB),
    ]


@pytest.mark.parametrize("tmpl, reason", [
    ({"resources": 5}, "has template resources that are not a literal list"),
    ({"resources": "[variables('all')]"}, "has template resources that are not a literal list"),
    ({"resources": [5]}, "has a template resource that is not a literal"),
    ({"resources": [{"type": "[variables('t')]", "name": "x"}]}, "has a template resource whose type is not a literal"),
    ({"resources": [{**account(), "resources": "[variables('children')]"}]},
     "has nested template resources that are not a literal list"),
    ("[variables('template')]", "has a template that is not a literal"),
])
def test_malformed_templates_are_unseen_never_skipped(tmpl, reason):
    items = expand("azure-native:resources:Deployment", "d", {"properties": {"template": tmpl}})
    unseen = [i for i in items if not hasattr(i, "props")]
    assert [u.reason for u in unseen] == [reason]
    assert unseen[0].error().message == f"deployment 'd' {reason}, so what it creates can't be known during preview"


def test_role_assignment_in_a_template_meets_the_rbac_policies(resource_gate):
    findings = [f for f in _of(resource_gate, "fail-template-owner-assignment")
                if f.policy == "rbac-no-privileged-roles-for-workloads"]
    assert [f.kind.value for f in findings] == ["violation"]
    assert findings[0].message.startswith(
        "template resource 'Microsoft.Authorization/roleAssignments' 'ra1': Role assignment 'ra1' grants Owner "
        "(8e3af657-a8ff-443c-a75c-2fe8c4bcb635)")
