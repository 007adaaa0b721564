"""User-assigned managed identities.

User-assigned (not system-assigned) identities exist independently of any
compute, so training jobs on any platform can attach the same identity, and
its role assignments can be granted before the first job runs.
"""

from __future__ import annotations

from pulumi_azure_native import managedidentity, resources

from platform_config import Settings


def create_identity(name: str, settings: Settings, rg: resources.ResourceGroup) -> managedidentity.UserAssignedIdentity:
    """Declare a user-assigned identity in the platform's resource group."""
    return managedidentity.UserAssignedIdentity(
        name,
        resource_group_name=rg.name,
        location=settings.location,
    )
