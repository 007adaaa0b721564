"""Azure RBAC role assignments, least privilege and data-plane only.

Only narrowly scoped data roles are granted here (never Owner or
Contributor). Assignment names are derived GUIDs so re-running the program
never creates a duplicate, and ``principal_type`` is always set so Azure does
not reject a freshly created identity that has not replicated in Entra ID yet.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

from naming import role_assignment_name

# Built-in role definition GUIDs (identical in every Azure tenant).
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"


def role_definition_id(subscription_id: str, role: str) -> str:
    """The subscription-scoped ARM id of a built-in role definition."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def grant(
    name: str,
    *,
    subscription_id: str,
    role: str,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    principal_type: str,
    opts: pulumi.ResourceOptions | None = None,
) -> authorization.RoleAssignment:
    """Assign ``role`` to a principal at ``scope``; ``name`` is the logical name."""
    seed = f"{subscription_id}/{pulumi.get_project()}/{pulumi.get_stack()}/{name}"
    return authorization.RoleAssignment(
        name,
        role_assignment_name=role_assignment_name(seed),
        role_definition_id=role_definition_id(subscription_id, role),
        scope=scope,
        principal_id=principal_id,
        principal_type=principal_type,
        opts=opts,
    )
