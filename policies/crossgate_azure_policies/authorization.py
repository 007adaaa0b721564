"""Azure RBAC role grants: least-privilege roles, narrow scopes, explicit principal types.

A role is granted by a role assignment, a PIM eligibility schedule, a PIM eligibility or assignment
schedule request (ARM-only types, reached through generic resources and templates under the
azure-native-style tokens below), or an Azure Lighthouse registration definition (its
authorizations, eligible authorizations and the roles a User Access Administrator may delegate),
which applies where its registration assignment puts it. Every grant meets the same rules.

Roles are matched by the lower-cased GUID at the end of ``roleDefinitionId``, a literal in any
program that names a built-in role. A role that is absent, or unknown, makes the role policies
indeterminate; only the stack policy can tell an unknown role computed from a custom
``RoleDefinition`` in the stack (never a built-in data role). A grant's ``scope`` is usually another
resource's id, unknown during preview, so the scope policies are stack policies that resolve it
through the resource it was computed from; a literal scope is judged by its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._props import UNKNOWN, UnknownValueError, canonical_type, eq, fmt, get, items, label, last_segment, one_of
from ._stack import UNKNOWN_STRING, StackView
from .metadata import Control, resource_rule, stack_rule
from .privatelink import ArmId

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
PIM_ELIGIBILITY = "azure-native:authorization:PimRoleEligibilitySchedule"
#: ARM-only types (reached through generic resources and templates), named as azure-native would name them.
ELIGIBILITY_REQUEST = "azure-native:authorization:RoleEligibilityScheduleRequest"
ASSIGNMENT_REQUEST = "azure-native:authorization:RoleAssignmentScheduleRequest"
REGISTRATION_DEFINITION = "azure-native:managedservices:RegistrationDefinition"
REGISTRATION_ASSIGNMENT = "azure-native:managedservices:RegistrationAssignment"

#: Built-in role names by definition GUID (the same in every tenant), for messages.
ROLE_NAMES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "c12c1c16-33a1-487b-954d-41c89c60f349": "Reader and Data Access",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "21090545-7ca7-4776-b22c-e363652d74d2": "Key Vault Reader",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": "Key Vault Crypto Service Encryption User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "f25e0fa2-a7c8-4377-a976-54943a77a395": "Key Vault Contributor",
    "f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "b12aa53e-6015-4669-85d0-8515ebb3ae7f": "Private DNS Zone Contributor",
}
PRIVILEGED_ROLES = frozenset({
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
})
KEY_LISTING_OR_DATA_OWNER_ROLES = frozenset({
    "17d1049b-9a84-46fb-8f53-869881c3d3ab", "c12c1c16-33a1-487b-954d-41c89c60f349",
    "81a9662b-bebf-436f-a333-f67b29880f12", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "f25e0fa2-a7c8-4377-a976-54943a77a395",
})
#: The default allow-list: the roles the catalogue rates preferred or acceptable for workloads.
DEFAULT_ALLOWED_ROLES = (
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "4633458b-17de-408a-b874-0445c86b69e6", "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "12338af0-0e69-4776-bea7-57ae8d297424", "21090545-7ca7-4776-b22c-e363652d74d2",
    "f6c7c914-8db3-469d-8ca1-694a8f32e121", "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7",
)
#: Data-plane roles that must be scoped to the data they grant, by the ARM provider that holds it.
STORAGE_DATA_ROLES = frozenset({
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
})
KEY_VAULT_DATA_ROLES = frozenset({
    "4633458b-17de-408a-b874-0445c86b69e6", "21090545-7ca7-4776-b22c-e363652d74d2",
    "12338af0-0e69-4776-bea7-57ae8d297424", "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "00482a5a-887f-4fb3-b363-3b7fe8e74483",
})

_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_RG_OR_NARROWER = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+(/providers/.+)?$", re.IGNORECASE)
#: azure-native modules whose resources are above resource-group level.
_BROAD_MODULES = {"subscription", "management"}
_BROAD_TYPES = {"DeploymentAtSubscriptionScope", "DeploymentAtManagementGroupScope", "DeploymentAtTenantScope"}

#: Every way to grant one role to one principal at a scope (``roleDefinitionId`` + ``scope``).
SINGLE_ROLE_GRANTS = (ROLE_ASSIGNMENT, PIM_ELIGIBILITY, ELIGIBILITY_REQUEST, ASSIGNMENT_REQUEST)
#: Every resource that grants roles: the single-role grants and Lighthouse delegations.
ROLE_GRANTS = (*SINGLE_ROLE_GRANTS, REGISTRATION_DEFINITION)
#: Everything whose ``scope`` decides where roles apply. A Lighthouse definition applies where it is assigned,
#: so its assignment's scope counts, not its own.
SCOPED_GRANTS = (*SINGLE_ROLE_GRANTS, REGISTRATION_ASSIGNMENT)
#: PIM request types that take access away rather than grant it.
_REMOVING_REQUESTS = ("AdminRemove", "SelfDeactivate")
_NOUNS = {
    ROLE_ASSIGNMENT: "Role assignment",
    PIM_ELIGIBILITY: "PIM role eligibility schedule",
    ELIGIBILITY_REQUEST: "PIM role eligibility request",
    ASSIGNMENT_REQUEST: "PIM role assignment request",
    REGISTRATION_DEFINITION: "Lighthouse registration definition",
    REGISTRATION_ASSIGNMENT: "Lighthouse registration assignment",
}


def noun(resource_type: str) -> str:
    """How messages name a grant: ``Role assignment``, ``PIM role eligibility schedule``..."""
    return _NOUNS.get(canonical_type(resource_type), label(resource_type))


@dataclass(frozen=True)
class Grant:
    """One role a resource grants."""

    #: The role definition GUID, lower case.
    role: str
    #: Where it is written, for messages: ``roleDefinitionId`` or ``properties.authorizations[0].roleDefinitionId``.
    path: str

    def via(self) -> str:
        return "" if self.path == "roleDefinitionId" else f" through {self.path}"


def _unset(path: str) -> UnknownValueError:
    """An absent role makes a policy indeterminate, exactly like an unknown one."""
    error = UnknownValueError(UNKNOWN_STRING, path.split("."))
    error.message = f"{path} is not set, so the role it grants can't be judged"
    return error


def _grant(props: Any, path: str) -> Grant:
    role = get(props, path)  # an unknown role raises UnknownValueError: the policy can't run
    if not isinstance(role, str) or not role.strip():
        raise _unset(path)
    shown = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)
    return Grant(last_segment(role), shown)


def removes_access(resource_type: str, props: Any) -> bool:
    """Whether a PIM schedule request takes access away (``AdminRemove``, ``SelfDeactivate``) rather than grants it."""
    return canonical_type(resource_type) in (ELIGIBILITY_REQUEST, ASSIGNMENT_REQUEST) and \
        one_of(get(props, "requestType"), _REMOVING_REQUESTS)


def grants(resource_type: str, props: Any) -> list[Grant]:
    """Every role a resource grants (reading each role is a literal read; absent or unknown raises)."""
    kind = canonical_type(resource_type)
    if kind == REGISTRATION_DEFINITION:
        found = []
        for group in ("authorizations", "eligibleAuthorizations"):
            for i in range(len(items(get(props, f"properties.{group}")))):
                entry = f"properties.{group}.{i}"
                found.append(_grant(props, f"{entry}.roleDefinitionId"))
                for j in range(len(items(get(props, f"{entry}.delegatedRoleDefinitionIds")))):
                    found.append(_grant(props, f"{entry}.delegatedRoleDefinitionIds.{j}"))
        return found
    if removes_access(resource_type, props):
        return []
    return [_grant(props, "roleDefinitionId")]


def role_name(guid: str) -> str:
    return ROLE_NAMES.get(guid, guid)


def is_broad(resource: PolicyResource) -> bool:
    """A resource whose id is a subscription, management group or tenant-level scope."""
    package, module, name = (canonical_type(resource.resource_type).split(":") + ["", "", ""])[:3]
    return package == "azure-native" and (module in _BROAD_MODULES or name in _BROAD_TYPES)


_GRANT_TYPES_NOTE = (" Applies alike to role assignments, PIM eligibility schedules and schedule requests, and "
                     "Lighthouse registration definitions (authorizations, eligible authorizations and delegated "
                     "roles).")


@resource_rule(Control(
    slug="rbac-no-privileged-roles-for-workloads",
    description="Workload identities must never be assigned Owner, Contributor, User Access Administrator or "
                "Role Based Access Control Administrator, whether by role assignment, PIM eligibility or Lighthouse "
                "delegation.",
    severity=Severity.CRITICAL,
    resource_types=ROLE_GRANTS,
    remediation="Assign a least-privilege data role instead (e.g. Storage Blob Data Reader on the container, Key "
                "Vault Secrets User on the vault); administrative access goes through PIM, not the stack."
                + _GRANT_TYPES_NOTE,
    cis=(("5.0.0", "5.3.3"), ("6.0.0", "5.3.3")),
    azure_policy=("4f11b553-d42e-4e3a-89be-32ca364cad4c",),
    mcsb=("PA-1", "~PA-7"),
))
def rbac_no_privileged_roles_for_workloads(args, config):
    for grant in grants(args.resource_type, args.props):
        if grant.role in PRIVILEGED_ROLES:
            yield (f"{noun(args.resource_type)} '{args.name}' grants {role_name(grant.role)} ({grant.role})"
                   f"{grant.via()}; privileged roles are never given to workloads: assign a least-privilege data "
                   "role.")


@resource_rule(Control(
    slug="rbac-no-key-listing-or-data-owner-roles",
    description="Workloads must not get roles that list storage keys or administer data-plane permissions "
                "(Storage Account Contributor, Reader and Data Access, Key Operator, Blob Data Owner, Key Vault "
                "Administrator / Secrets Officer / Contributor), by any kind of grant.",
    severity=Severity.HIGH,
    resource_types=ROLE_GRANTS,
    remediation="Use Storage Blob Data Reader/Contributor instead of key-listing or owner roles, and Key Vault "
                "Secrets User instead of Key Vault administration roles." + _GRANT_TYPES_NOTE,
    mcsb=("~IM-1", "~PA-7"),
))
def rbac_no_key_listing_or_data_owner_roles(args, config):
    for grant in grants(args.resource_type, args.props):
        if grant.role in KEY_LISTING_OR_DATA_OWNER_ROLES:
            yield (f"{noun(args.resource_type)} '{args.name}' grants {role_name(grant.role)} ({grant.role})"
                   f"{grant.via()}, which can list keys or manage data-plane permissions; grant a data reader/user "
                   "role instead.")


@resource_rule(Control(
    slug="rbac-data-roles-allowlist",
    description="Workload role grants must use a role from the least-privilege allow-list (roles on the "
                "privileged and key-listing deny-lists are reported by those policies).",
    severity=Severity.HIGH,
    resource_types=ROLE_GRANTS,
    remediation="Use an allow-listed role, or add the role's definition GUID to config `allowedRoleDefinitionIds` "
                "after review." + _GRANT_TYPES_NOTE,
    mcsb=("~PA-7",),
), allowedRoleDefinitionIds={
    "type": "array", "items": {"type": "string", "pattern": _GUID}, "default": list(DEFAULT_ALLOWED_ROLES),
    "description": "Role definition GUIDs workloads may be assigned.",
})
def rbac_data_roles_allowlist(args, config):
    allowed = {g.casefold() for g in config["allowedRoleDefinitionIds"]}
    for grant in grants(args.resource_type, args.props):
        if grant.role in PRIVILEGED_ROLES or grant.role in KEY_LISTING_OR_DATA_OWNER_ROLES:
            continue
        if grant.role not in allowed:
            yield (f"{noun(args.resource_type)} '{args.name}' grants {role_name(grant.role)} ({grant.role})"
                   f"{grant.via()}, which is not on the allow-list; use an allow-listed role or add it to config "
                   "allowedRoleDefinitionIds.")


@resource_rule(Control(
    slug="rbac-principal-type-explicit",
    description="Role assignments must set principalType explicitly: 'ServicePrincipal' for managed identities, "
                "'Group' for human access groups (not the SDK default 'User').",
    severity=Severity.MEDIUM,
    resource_types=(ROLE_ASSIGNMENT,),
    remediation="Set `principalType` to 'ServicePrincipal' for managed identities (or 'Group' for groups). Allow "
                "'User' through config `allowedPrincipalTypes` if individual users must be granted. (PIM schedules "
                "and Lighthouse authorizations have no principalType input; Azure derives it.)",
), allowedPrincipalTypes={
    "type": "array", "items": {"type": "string", "enum": ["ServicePrincipal", "Group", "User", "ForeignGroup",
                                                         "Device"]},
    "default": ["ServicePrincipal", "Group"], "description": "Principal types allowed.",
})
def rbac_principal_type_explicit(args, config):
    principal_type = get(args.props, "principalType")
    allowed = config["allowedPrincipalTypes"]
    if not one_of(principal_type, allowed):
        hint = " (the SDK's default when it is omitted)" if one_of(principal_type, ("User",)) else ""
        yield (f"Role assignment '{args.name}' has principalType {fmt(principal_type)}{hint}; set it to "
               f"{' or '.join(repr(t) for t in allowed)} (managed identities are 'ServicePrincipal').")


# -- scopes (stack) ----------------------------------------------------------------------------

def _scope_problem(stack: StackView, grant: PolicyResource) -> str | None:
    """Why a grant's scope is broader than a resource group, or None; records an undecidable scope."""
    scope = stack.peek(grant, "scope")
    if isinstance(scope, str):
        if not _RG_OR_NARROWER.match(scope.rstrip("/") or "/"):
            return f"is scoped to {fmt(scope)}"
    elif scope is UNKNOWN:
        deps = stack.deps(grant, "scope")
        if not deps:
            stack.unresolved(grant, "scope")
        elif broad := [d for d in deps if is_broad(d)]:
            return f"is scoped to {_describe(broad)}"
    else:
        return "has no scope"
    return None


def _registration_definitions(stack: StackView, assignment: PolicyResource) -> list[PolicyResource] | None:
    """The in-stack definition a Lighthouse assignment assigns ([] when it is elsewhere); None when undecidable."""
    found = stack.deps(assignment, "properties", REGISTRATION_DEFINITION)
    if found:
        return found
    value = stack.peek(assignment, "properties.registrationDefinitionId")
    if value is UNKNOWN:
        stack.unresolved(assignment, "properties.registrationDefinitionId")
        return None
    parsed = ArmId.parse(value) if isinstance(value, str) else None
    if parsed is None or parsed.provider_type != "microsoft.managedservices/registrationdefinitions":
        return []
    return [d for d in stack.of_type(REGISTRATION_DEFINITION)
            if isinstance(name := stack.peek(d, "registrationDefinitionId"), str) and eq(name, parsed.name)]


@stack_rule(Control(
    slug="rbac-scope-resource-group-or-narrower",
    description="Role grants (role assignments, PIM eligibility schedules and requests, Lighthouse delegations) "
                "must be scoped to a resource group or a resource inside one; never '/', a management group or a "
                "whole subscription.",
    severity=Severity.HIGH,
    resource_types=SCOPED_GRANTS,
    remediation="Set `scope` to the id of the resource the workload needs (or at most its resource group); a "
                "Lighthouse assignment must assign a registration definition declared in the same stack.",
    mcsb=("~PA-7",),
))
def rbac_scope_resource_group_or_narrower(stack, config):
    for grant in stack.of_type(*SCOPED_GRANTS):
        what = noun(grant.resource_type)
        problem = _scope_problem(stack, grant)
        if problem == "has no scope":
            yield grant, f"{what} '{grant.name}' has no scope; set scope to the resource the role is for."
        elif problem:
            yield grant, (f"{what} '{grant.name}' {problem}, broader than a resource group; scope it to the "
                          "resource (or at most its resource group).")
        if stack.is_type(grant, REGISTRATION_ASSIGNMENT) and _registration_definitions(stack, grant) == []:
            yield grant, (f"{what} '{grant.name}' assigns a registration definition that is not declared in this "
                          "stack, so the roles it delegates can't be checked; declare the definition here.")


def _describe(resources: list[PolicyResource]) -> str:
    return ", ".join(f"{label(r.resource_type)} '{r.name}'" for r in resources)


#: Data-role family -> (ARM provider type of the resources it must be scoped to, azure-native module, description).
_DATA_PROVIDERS = {
    "storage": ("microsoft.storage/storageaccounts", "storage account or container"),
    "keyvault": ("microsoft.keyvault/vaults", "key vault, key or secret"),
}


def _stack_grants(stack: StackView, resource: PolicyResource) -> list[Grant] | None:
    """The built-in roles a grant gives (custom roles computed from a RoleDefinition are left out); None when a role
    is absent, or unknown without a RoleDefinition it was computed from (recorded as unresolved)."""
    try:
        return grants(resource.resource_type, resource.props)
    except UnknownValueError as exc:
        path = ".".join(exc.props)
        deps = stack.deps(resource, exc.props[0]) if exc.props else []
        custom = bool(deps) and all(stack.is_type(d, ROLE_DEFINITION) for d in deps)
        if not (custom and path == "roleDefinitionId" and stack.peek(resource, path) is UNKNOWN):
            stack.unresolved(resource, path)
            return None
        return []


@stack_rule(Control(
    slug="rbac-data-role-scoped-to-resource",
    description="Storage Blob Data and Key Vault data roles must be scoped to the specific storage account or "
                "container, or vault, key or secret, not to a resource group (for every kind of role grant).",
    severity=Severity.MEDIUM,
    resource_types=ROLE_GRANTS,
    remediation="Set `scope` to the container's (or account's) id for Storage Blob Data roles, and to the vault's "
                "(or secret's) id for Key Vault roles.",
    mcsb=("~PA-7",),
))
def rbac_data_role_scoped_to_resource(stack, config):
    for resource in stack.of_type(*ROLE_GRANTS):
        found = _stack_grants(stack, resource)
        for grant in found or ():
            module = "storage" if grant.role in STORAGE_DATA_ROLES else \
                "keyvault" if grant.role in KEY_VAULT_DATA_ROLES else None
            if module is None:
                continue
            provider_type, what = _DATA_PROVIDERS[module]
            scope = stack.peek(resource, "scope")
            if stack.is_type(resource, REGISTRATION_DEFINITION):
                where = "the subscription or resource group it is assigned to (Lighthouse delegates no narrower)"
            elif isinstance(scope, str):
                parsed = ArmId.parse(scope)
                if parsed is not None and parsed.provider_type == provider_type:
                    continue
                where = fmt(scope)
            elif scope is UNKNOWN:
                deps = stack.deps(resource, "scope")
                if not deps:
                    stack.unresolved(resource, "scope")
                    break
                # The scope is one of these resources' ids: it is narrow only if each of them is.
                if all(canonical_type(d.resource_type).split(":")[1] == module for d in deps):
                    continue
                where = _describe(deps)
            else:
                break  # rbac-scope-resource-group-or-narrower reports a missing scope
            yield resource, (f"{noun(resource.resource_type)} '{resource.name}' grants {role_name(grant.role)}"
                             f"{grant.via()} at {where}; scope it to the {what} it is for.")
            break


RULES = (
    rbac_no_privileged_roles_for_workloads,
    rbac_scope_resource_group_or_narrower,
    rbac_data_roles_allowlist,
    rbac_no_key_listing_or_data_owner_roles,
    rbac_principal_type_explicit,
    rbac_data_role_scoped_to_resource,
)
