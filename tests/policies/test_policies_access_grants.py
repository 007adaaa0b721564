"""Privileged access granted another way (issue 12, item 4).

PIM eligibility schedules, PIM schedule requests (the ARM types ``roleEligibilityScheduleRequests``
and ``roleAssignmentScheduleRequests``, judged under the azure-native tokens the opaque-resource
mapping gives them) and Azure Lighthouse delegations meet the same role and scope rules as a role
assignment. A role that is absent, or unknown without a role definition it was computed from, is
indeterminate, never compliant.
"""

from __future__ import annotations

import pytest

from crossgate.testing import Resource, evaluate
from crossgate.wire import UNKNOWN
from policy_cases import assert_case, evaluate_cases, fail, ok
from policy_stack import (BLOB_DATA_READER, OWNER, READER, REPO_PACK, RG_ID, SUB, STORAGE_ACCOUNT_CONTRIBUTOR, U,
                          NETWORK_CONTRIBUTOR, Spec, add, chain, role_id)

PRIVILEGED, KEYS, ALLOWLIST = ("rbac-no-privileged-roles-for-workloads", "rbac-no-key-listing-or-data-owner-roles",
                               "rbac-data-roles-allowlist")
SCOPE, DATA_SCOPE = "rbac-scope-resource-group-or-narrower", "rbac-data-role-scoped-to-resource"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
GROUP = "22222222-2222-4222-8222-222222222222"
MANAGING_TENANT = "44444444-4444-4444-8444-444444444444"
MANAGEMENT_GROUP = "/providers/Microsoft.Management/managementGroups/contoso"


def pim(token: str, role: str, scope: str | None = None, scope_from: str | None = "rg", **extra) -> Spec:
    """A PIM grant (eligibility schedule or schedule request): a literal ``scope``, else one computed from ``scope_from``."""
    props = {"principalId": GROUP, "roleDefinitionId": role_id(role), "scope": scope if scope else U, **extra}
    return Spec(f"azure-native:authorization:{token}", props, {} if scope else {"scope": [scope_from]})


def lighthouse(authorizations: list[dict], eligible: list[dict] | None = None, name: str = "lighthouse-ops") -> Spec:
    properties = {"registrationDefinitionName": "Contoso operations", "managedByTenantId": MANAGING_TENANT,
                  "authorizations": authorizations}
    if eligible is not None:
        properties["eligibleAuthorizations"] = eligible
    return Spec("azure-native:managedservices:RegistrationDefinition",
                {"scope": SUB, "registrationDefinitionId": name, "properties": properties})


def authorization(role: str, **extra) -> dict:
    return {"principalId": GROUP, "principalIdDisplayName": "Contoso operators", "roleDefinitionId": role_id(role),
            **extra}


def lighthouse_assignment(scope: str, definition: str | None = "lighthouse", literal_id: str | None = None) -> Spec:
    props = {"scope": scope, "properties": {"registrationDefinitionId": literal_id or U}}
    return Spec("azure-native:managedservices:RegistrationAssignment", props,
                {"properties": [definition]} if definition else {})


CASES = [
    # -- PIM ----------------------------------------------------------------------------------------
    fail(PRIVILEGED, "pim", add("pim", pim("PimRoleEligibilitySchedule", OWNER)),
         f"PIM role eligibility schedule 'fail-{PRIVILEGED}-pim-eligibility' grants Owner ({OWNER}); privileged roles "
         "are never given to workloads", variant="pim-eligibility"),
    fail(PRIVILEGED, "pim", add("pim", pim("RoleEligibilityScheduleRequest", CONTRIBUTOR, scope=SUB,
                                           requestType="AdminAssign")),
         f"PIM role eligibility request 'fail-{PRIVILEGED}-eligibility-request' grants Contributor ({CONTRIBUTOR})",
         variant="eligibility-request", also={(SCOPE, "pim")}),
    fail(PRIVILEGED, "pim", add("pim", pim("RoleAssignmentScheduleRequest", USER_ACCESS_ADMINISTRATOR,
                                           requestType="SelfActivate")),
         "PIM role assignment request", variant="assignment-request"),
    ok("pim-request-removing-owner", "pim", add("pim", pim("RoleAssignmentScheduleRequest", OWNER,
                                                           requestType="AdminRemove"))),
    fail(KEYS, "pim", add("pim", pim("PimRoleEligibilitySchedule", STORAGE_ACCOUNT_CONTRIBUTOR, scope_from="storage")),
         "grants Storage Account Contributor (17d1049b-9a84-46fb-8f53-869881c3d3ab), which can list keys",
         variant="pim-eligibility"),
    fail(SCOPE, "pim", add("pim", pim("PimRoleEligibilitySchedule", READER, scope=MANAGEMENT_GROUP)),
         f"PIM role eligibility schedule 'fail-{SCOPE}-pim-literal-management-group' is scoped to '{MANAGEMENT_GROUP}', "
         "broader than a resource group", variant="pim-literal-management-group"),
    fail(DATA_SCOPE, "pim", add("pim", pim("PimRoleEligibilitySchedule", BLOB_DATA_READER, scope=RG_ID)),
         f"grants Storage Blob Data Reader at '{RG_ID}'; scope it to the storage account or container",
         variant="pim-literal-resource-group"),
    ok("pim-eligibility-data-reader-on-container", "pim",
       add("pim", pim("PimRoleEligibilitySchedule", BLOB_DATA_READER, scope_from="container"))),
    ok("pim-eligibility-data-reader-literal-container", "pim", add("pim", pim(
        "RoleEligibilityScheduleRequest", BLOB_DATA_READER, requestType="AdminAssign",
        scope=f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/aidatast01/blobServices/default/containers/x"))),
    # -- Azure Lighthouse ---------------------------------------------------------------------------
    fail(PRIVILEGED, "lighthouse", add("lighthouse", lighthouse([authorization(CONTRIBUTOR)])),
         f"Lighthouse registration definition 'fail-{PRIVILEGED}-lighthouse' grants Contributor ({CONTRIBUTOR}) through "
         "properties.authorizations[0].roleDefinitionId", variant="lighthouse"),
    fail(KEYS, "lighthouse", add("lighthouse", lighthouse([authorization(READER), authorization(
        USER_ACCESS_ADMINISTRATOR, delegatedRoleDefinitionIds=[role_id(STORAGE_ACCOUNT_CONTRIBUTOR)])])),
         "grants Storage Account Contributor (17d1049b-9a84-46fb-8f53-869881c3d3ab) through "
         "properties.authorizations[1].delegatedRoleDefinitionIds[0]", variant="lighthouse-delegated-role",
         also={(PRIVILEGED, "lighthouse")}),
    fail(KEYS, "lighthouse", add("lighthouse", lighthouse([authorization(READER)],
                                                          [authorization(KEY_VAULT_ADMINISTRATOR)])),
         "grants Key Vault Administrator (00482a5a-887f-4fb3-b363-3b7fe8e74483) through "
         "properties.eligibleAuthorizations[0].roleDefinitionId", variant="lighthouse-eligible",
         also={(DATA_SCOPE, "lighthouse")}),  # a Key Vault data role, delegated no narrower than a resource group
    fail(ALLOWLIST, "lighthouse", add("lighthouse", lighthouse([authorization(NETWORK_CONTRIBUTOR)])),
         f"grants Network Contributor ({NETWORK_CONTRIBUTOR}) through properties.authorizations[0].roleDefinitionId, "
         "which is not on the allow-list", variant="lighthouse"),
    fail(DATA_SCOPE, "lighthouse", add("lighthouse", lighthouse([authorization(BLOB_DATA_READER)])),
         "grants Storage Blob Data Reader through properties.authorizations[0].roleDefinitionId at the subscription or "
         "resource group it is assigned to", variant="lighthouse"),
    fail(SCOPE, "assignment", chain(add("lighthouse", lighthouse([authorization(READER)])),
                                    add("assignment", lighthouse_assignment(SUB))),
         f"Lighthouse registration assignment 'fail-{SCOPE}-lighthouse-subscription' is scoped to '{SUB}', broader "
         "than a resource group", variant="lighthouse-subscription"),
    fail(SCOPE, "assignment", add("assignment", lighthouse_assignment(
        RG_ID, definition=None, literal_id=f"{SUB}/providers/Microsoft.ManagedServices/registrationDefinitions/other")),
         "assigns a registration definition that is not declared in this stack, so the roles it delegates can't be "
         "checked", variant="lighthouse-external-definition"),
    ok("lighthouse-reader-on-resource-group", "assignment", chain(
        add("lighthouse", lighthouse([authorization(READER)])), add("assignment", lighthouse_assignment(RG_ID)))),
    ok("lighthouse-assignment-by-literal-definition-id", "assignment", chain(
        add("lighthouse", lighthouse([authorization(READER)], name="lighthouse-literal")),
        add("assignment", lighthouse_assignment(RG_ID, definition=None, literal_id=(
            f"{SUB}/providers/Microsoft.ManagedServices/registrationDefinitions/lighthouse-literal"))))),
]


@pytest.fixture(scope="module")
def gate():
    return evaluate_cases(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_grant_case(gate, case):
    assert_case(gate, case)


def _assignment(name: str, props: dict, deps: dict | None = None) -> Resource:
    base = {"principalType": "Group", "principalId": GROUP, "scope": f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv"}
    return Resource("azure-native:authorization:RoleAssignment", name, {**base, **props},
                    property_dependencies=deps or {})


@pytest.mark.parametrize("name, props, deps, stack_decides", [
    ("role-absent", {}, None, False),
    ("role-unknown", {"roleDefinitionId": UNKNOWN}, None, False),
    ("role-from-custom-definition", {"roleDefinitionId": UNKNOWN}, {"roleDefinitionId": ["custom-role"]}, True),
])
def test_role_that_cannot_be_read_is_indeterminate(name, props, deps, stack_decides):
    result = evaluate(REPO_PACK, [
        Resource("azure-native:authorization:RoleDefinition", "custom-role", {
            "roleName": "Training reader", "scope": RG_ID, "assignableScopes": [RG_ID],
            "permissions": [{"dataActions": ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]}]}),
        _assignment(name, props, deps),
    ], config={"all": "mandatory"})
    assert result.errors == () and result.violations == []
    undecided = sorted(f.policy for f in result.indeterminate if f.name == name)
    assert undecided == sorted([PRIVILEGED, KEYS, ALLOWLIST])
    stack_level = [f for f in result.indeterminate if f.policy == DATA_SCOPE]
    if stack_decides:
        assert stack_level == []  # computed from a custom role: not a built-in data role
    else:
        (finding,) = stack_level
        assert "roleDefinitionId" in finding.message and f"(resource '{name}')" in finding.message
    if name == "role-absent":
        (finding,) = [f for f in result.indeterminate if f.policy == PRIVILEGED]
        assert "roleDefinitionId is not set, so the role it grants can't be judged" in finding.message
