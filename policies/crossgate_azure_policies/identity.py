"""User-assigned managed identities: what they may do, and who may sign in as them.

An identity's role grants are the role assignments and PIM grants whose ``principalId`` (and the Lighthouse
definitions whose ``properties``) were computed from the identity; its
federated credentials are those whose ``resourceName`` was. Both are stack policies.
"""

from __future__ import annotations

from pulumi_policy import PolicyResource, Severity

from ._props import UNKNOWN, fmt, items, one_of
from ._stack import StackView
from .authorization import REGISTRATION_DEFINITION, ROLE_ASSIGNMENT, SINGLE_ROLE_GRANTS, removes_access
from .metadata import Control, stack_rule

IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"


@stack_rule(Control(
    slug="uami-least-privilege-footprint",
    description="Each user-assigned identity must stay dedicated to one workload: at most a few role "
                "grants (role assignments, PIM eligibility and schedule requests, Lighthouse authorizations), "
                "role assignments typed 'ServicePrincipal' (each grant's role and scope are checked by the "
                "rbac-* policies).",
    severity=Severity.MEDIUM,
    resource_types=(IDENTITY,),
    remediation="Split identities that collect many assignments (one identity per workload), and set "
                "`principalType` 'ServicePrincipal' on every assignment to a managed identity; raise config "
                "`maxRoleAssignments` only after review.",
    mcsb=("~IM-3", "~PA-7"),
), maxRoleAssignments={"type": "integer", "minimum": 1, "default": 5,
                       "description": "Most role grants (assignments, PIM grants, Lighthouse "
                                      "authorizations) one identity may hold."})
def uami_least_privilege_footprint(stack, config):
    limit = config["maxRoleAssignments"]
    for identity in stack.of_type(IDENTITY):
        grants = identity_grants(stack, identity)
        if len(grants) > limit:
            yield identity, (f"Managed identity '{identity.name}' holds {len(grants)} role grants "
                             f"({stack.names(grants)}), more than {limit}; give each workload its own identity.")
            continue
        assignments = [g for g in grants if stack.is_type(g, ROLE_ASSIGNMENT)]
        mistyped = [a for a in assignments
                    if stack.peek(a, "principalType") is not UNKNOWN
                    and not one_of(stack.peek(a, "principalType"), ("ServicePrincipal",))]
        if mistyped:
            types = ", ".join(f"'{a.name}' ({fmt(stack.peek(a, 'principalType'))})" for a in mistyped)
            yield identity, (f"Managed identity '{identity.name}' is granted roles by assignments typed for another "
                             f"kind of principal: {types}; set principalType to 'ServicePrincipal'.")


def identity_grants(stack: StackView, identity: PolicyResource) -> list[PolicyResource]:
    """Every resource that grants ``identity`` a role: role assignments and PIM grants (not requests that remove
    access) whose ``principalId``, and Lighthouse definitions whose authorizations (``properties``), were
    computed from it."""
    grants = [g for g in stack.dependents(identity, "principalId", *SINGLE_ROLE_GRANTS)
              if not removes_access(g.resource_type, g.props)]
    return stack.extend_unique(grants, stack.dependents(identity, "properties", REGISTRATION_DEFINITION))


def _issuer_allowed(issuer: str, allowed: list[str]) -> bool:
    for entry in allowed:
        if entry.endswith("/") and issuer.casefold().startswith(entry.casefold()):
            return True
        if issuer.rstrip("/").casefold() == entry.rstrip("/").casefold():
            return True
    return False


@stack_rule(Control(
    slug="uami-federated-credential-trusted",
    description="Federated identity credentials on user-assigned identities must trust only approved issuers, "
                "pin an exact subject (no wildcards) and use the token-exchange audience.",
    severity=Severity.MEDIUM,
    resource_types=(IDENTITY, FEDERATED_CREDENTIAL),
    remediation="Set `issuer` to an approved OIDC issuer (config `allowedIssuers`; an entry ending in '/' "
                "allows that prefix), `subject` to the exact workload (e.g. 'repo:org/repo:environment:prod'), "
                "and `audiences` to ['api://AzureADTokenExchange'].",
    azure_policy=("2571b7c3-3056-4a61-b00a-9bc5232234f5", "fd1a8e20-2c4f-4a6c-9354-b58d786d9a1f",
                  "ae62c456-33de-4dc8-b100-7ce9028a7d99"),
    mcsb=("IM-3",),
),
    allowedIssuers={"type": "array", "items": {"type": "string"},
                    "default": ["https://token.actions.githubusercontent.com"],
                    "description": "OIDC issuers trusted; an entry ending in '/' allows every issuer under it."},
    allowedAudiences={"type": "array", "items": {"type": "string"}, "default": ["api://AzureADTokenExchange"],
                      "description": "Audiences allowed."},
)
def uami_federated_credential_trusted(stack, config):
    for credential in stack.of_type(FEDERATED_CREDENTIAL):
        problems = []
        issuer = stack.peek(credential, "issuer")
        if isinstance(issuer, str):
            if not _issuer_allowed(issuer, config["allowedIssuers"]):
                problems.append(f"issuer {fmt(issuer)} is not in config allowedIssuers")
        elif issuer is UNKNOWN:
            if not stack.deps(credential, "issuer"):
                stack.unresolved(credential, "issuer")
        else:
            problems.append("issuer is not set")
        subject = stack.peek(credential, "subject")
        if isinstance(subject, str):
            if not subject.strip() or "*" in subject:
                problems.append(f"subject {fmt(subject)} is not pinned to one workload")
        elif subject is UNKNOWN:
            if not stack.deps(credential, "subject"):
                stack.unresolved(credential, "subject")
        else:
            problems.append("subject is not set")
        audiences = stack.peek(credential, "audiences")
        if audiences is not UNKNOWN:
            values = items(audiences)
            wrong = [a for a in values if a is not UNKNOWN and not one_of(a, config["allowedAudiences"])]
            if not values or wrong:
                problems.append(f"audiences is {fmt(audiences)}")
        if problems:
            yield credential, (f"Federated credential '{credential.name}' is not trusted: {'; '.join(problems)}; "
                               "use an approved issuer, an exact subject and audience 'api://AzureADTokenExchange'.")


RULES = (
    uami_least_privilege_footprint,
    uami_federated_credential_trusted,
)
