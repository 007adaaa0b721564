"""The Key Vault for training secrets, reachable only over Private Link.

Access is RBAC-only (no access policies, which cannot be audited or scoped
like role assignments), purge protection makes deleted secrets recoverable
for the full retention period even by an administrator, and the vault cannot
be used by VM deployment or ARM templates to pull secrets.
"""

from __future__ import annotations

from pulumi_azure_native import keyvault, resources

from platform_config import Settings

SOFT_DELETE_RETENTION_DAYS = 90


def create_key_vault(
    settings: Settings,
    rg: resources.ResourceGroup,
    vault_name: str,
    tenant_id: str,
) -> keyvault.Vault:
    """Declare the vault; data access is granted separately through RBAC."""
    return keyvault.Vault(
        f"{settings.name_prefix}-kv",
        vault_name=vault_name,
        resource_group_name=rg.name,
        location=settings.location,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=tenant_id,
            sku=keyvault.SkuArgs(family="A", name="standard"),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=SOFT_DELETE_RETENTION_DAYS,
            enable_purge_protection=True,
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
            public_network_access="disabled",
            network_acls=keyvault.NetworkRuleSetArgs(
                default_action="Deny",
                bypass="AzureServices",
            ),
        ),
    )
