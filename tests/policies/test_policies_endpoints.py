"""An endpoint covers what its privateLinkServiceId names (issue 12, item 5), and the compliant designs
that depend on it: a literal vault id, a FileStorage account behind a 'file' endpoint, and an AI
Foundry hub whose project inherits its network and endpoint.

A literal ``privateLinkServiceId`` decides the target by its value (matched to the stack's resource
by provider type and name, ignoring case), whatever else the connection was computed from. Only an
unknown id falls back to the dependencies of ``privateLinkServiceConnections``; those are recorded
per top-level input, so more than one of them (a name computed from the account, an id from
elsewhere) makes the endpoint count for none.
"""

from __future__ import annotations

import pytest

from policy_cases import assert_case, evaluate_cases, fail, ok
from policy_stack import (RG_ID, U, Spec, add, chain, diagnostics, drop, endpoint, link, rewire, set_, zone,
                          zone_group)

STORAGE_PE, KV_PE, ML_PE = ("storage-private-endpoint-required", "kv-private-endpoint-required",
                            "ml-private-endpoint-required")
#: Every case's copy of the baseline shares its literal names, so a case that names a resource by a literal id
#: gives that resource a name of its own first.
def vault_id(name: str) -> str:
    return f"{RG_ID}/providers/Microsoft.KeyVault/vaults/{name}"


def named(role: str, prop: str, name: str):
    return set_(role, prop, name)


EXTERNAL_ACCOUNT_ID = "/subscriptions/9/resourceGroups/x/providers/Microsoft.Storage/storageAccounts/elsewhere"


def literal_target(pe: str, arm_id: str):
    """The endpoint's connection names its target by a literal id; its other fields may still depend on anything."""
    return set_(pe, "privateLinkServiceConnections.0.privateLinkServiceId", arm_id)


def file_storage():
    """The account as a FileStorage account with a share, reached only through a 'file' endpoint (and its DNS)."""
    return chain(
        set_("storage", "kind", "FileStorage"), set_("storage", "sku.name", "Premium_ZRS"),
        drop("blob-service", "container", "diag-blob", "ra-blob-reader", "ra-group-reader", "ra-literal-scope",
             "pe-blob", "zg-blob", "zone-blob", "link-blob"),
        add("share", Spec("azure-native:storage:FileShare", {
            "resourceGroupName": U, "accountName": U, "shareName": "training", "enabledProtocols": "SMB"},
            {"resourceGroupName": ["rg"], "accountName": ["storage"]})),
        add("diag-file", diagnostics("storage", ["allLogs"])),
        add("pe-file", endpoint("storage", "file")), add("zone-file", zone("privatelink.file.core.windows.net")),
        add("link-file", link("zone-file")), add("zg-file", zone_group("pe-file", ["zone-file"])))


def hub_and_project(hub_id_from: str | None = "mlw", literal_hub_id: str | None = None):
    """The baseline workspace as an AI Foundry hub, plus a project that sets only what is its own."""
    deps = {"resourceGroupName": ["rg"], "identity": ["uami"], "primaryUserAssignedIdentity": ["uami"]}
    if hub_id_from:
        deps["hubResourceId"] = [hub_id_from]
    return chain(
        set_("mlw", "kind", "Hub"),
        add("project", Spec("azure-native:machinelearningservices:Workspace", {
            "resourceGroupName": U, "location": "westeurope", "workspaceName": "aidata-project", "kind": "Project",
            "hubResourceId": literal_hub_id or U, "friendlyName": "Training",
            "systemDatastoresAuthMode": "Identity", "hbiWorkspace": True, "allowPublicAccessWhenBehindVnet": False,
            "identity": {"type": "UserAssigned", "userAssignedIdentities": [U]}, "primaryUserAssignedIdentity": U,
        }, deps)),
        add("diag-project", diagnostics("project", ["allLogs"])))


CASES = [
    # -- only privateLinkServiceId links an endpoint to its target -------------------------------------
    fail(STORAGE_PE, "storage", literal_target("pe-blob", EXTERNAL_ACCOUNT_ID),
         "has no private endpoint for 'blob'", variant="literal-id-elsewhere-name-from-account",
         also={("pe-auto-approved-connection", "pe-blob")}),
    fail(STORAGE_PE, "storage", chain(named("kv", "vaultName", "kv-blob-target"),
                                      literal_target("pe-blob", vault_id("KV-BLOB-TARGET").lower())),
         "has no private endpoint for 'blob'", variant="literal-id-of-the-vault",
         also={("pe-correct-group-id", "pe-blob")}),
    fail(STORAGE_PE, "storage", rewire("pe-blob", "privateLinkServiceConnections", ["rg", "storage"]),
         "connect to several resources and count for none", variant="unknown-id-two-dependencies"),
    fail(KV_PE, "kv", chain(literal_target("pe-kv", vault_id("aidata-kv-02")),
                            rewire("pe-kv", "privateLinkServiceConnections", ["kv"])),
         "has no private endpoint for 'vault'", variant="literal-id-other-vault-name-from-vault",
         also={("pe-auto-approved-connection", "pe-kv")}),
    ok("pe-literal-vault-id", "pe-kv", chain(named("kv", "vaultName", "kv-literal"),
                                             literal_target("pe-kv", vault_id("kv-literal")),
                                             rewire("pe-kv", "privateLinkServiceConnections", []))),
    ok("pe-literal-vault-id-other-case", "pe-kv", chain(named("kv", "vaultName", "kv-Literal-Case"),
                                                        literal_target("pe-kv", vault_id("kv-literal-case").upper()),
                                                        rewire("pe-kv", "privateLinkServiceConnections", []))),
    # -- the groups an account needs follow its kind and the services it exposes ------------------------
    ok("file-storage-through-file-endpoint", "storage", file_storage()),
    fail(STORAGE_PE, "storage", chain(file_storage(), drop("pe-file", "zg-file")),
         "has no private endpoint for 'file'", variant="file-storage-without-file-endpoint"),
    fail(STORAGE_PE, "storage", add("share", Spec("azure-native:storage:FileShare", {
        "resourceGroupName": U, "accountName": U, "shareName": "scratch"},
        {"resourceGroupName": ["rg"], "accountName": ["storage"]})),
         "has no private endpoint for 'file'", variant="share-on-general-purpose-account"),
    # -- AI Foundry: a project inherits its hub's network and endpoint ---------------------------------
    ok("foundry-hub-with-project", "project", hub_and_project()),
    ok("foundry-project-literal-hub-id", "project", chain(named("mlw", "workspaceName", "hub-by-id"), hub_and_project(
        None, f"{RG_ID}/providers/Microsoft.MachineLearningServices/workspaces/hub-by-id"))),
    fail(ML_PE, "project", hub_and_project(None, (
        "/subscriptions/9/resourceGroups/x/providers/Microsoft.MachineLearningServices/workspaces/other-hub")),
         "is a project whose hubResourceId names no kind 'Hub' workspace declared in this stack",
         variant="project-of-external-hub", also={("ml-associated-resources-compliant", "project")}),
    fail(ML_PE, "project", chain(hub_and_project(), set_("mlw", "kind", "Default")),
         "has no private endpoint for 'amlworkspace'", variant="project-of-non-hub",
         also={("ml-associated-resources-compliant", "project")}),
    fail("ml-managed-network-isolation", "project", chain(
        hub_and_project(), set_("project", "managedNetwork", {"isolationMode": "AllowInternetOutbound"})),
         "(managedNetwork.isolationMode is 'AllowInternetOutbound')", variant="project-opens-its-own"),
]


#: Every policy mandatory, except two that a FileStorage account can't meet by definition (it is not StorageV2 and
#: offers no geo-redundant SKU); by default one is advisory and the other off.
CONFIG = {"all": "mandatory", "storage-kind-storagev2": "disabled", "storage-geo-redundant": "disabled"}


@pytest.fixture(scope="module")
def gate():
    return evaluate_cases(CASES, CONFIG)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_endpoint_case(gate, case):
    assert_case(gate, case)
