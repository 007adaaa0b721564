"""The storage account that holds training data, reachable only over Private Link.

The account refuses public network access, anonymous blob access, shared keys
(so SAS and account keys are useless) and local users: every read must be an
Entra ID identity holding a data role, arriving through the private endpoint.
Versioning, soft delete and the change feed make accidental or malicious
deletion recoverable and auditable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, resources, storage

import access_control
from identity import create_identity
from platform_config import CustomerManagedKey, Settings

CONTAINER_NAME = "training-data"
SOFT_DELETE_DAYS = 30
CHANGE_FEED_RETENTION_DAYS = 90


@dataclass(frozen=True)
class DataStore:
    """The storage resources other modules attach to."""

    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    container: storage.BlobContainer


def _account_scoped() -> storage.EncryptionServiceArgs:
    # Key type "Account" is fixed at creation; it puts queues and tables under
    # the account key (and so under a customer-managed key) like blobs and files.
    return storage.EncryptionServiceArgs(enabled=True, key_type="Account")


def _encryption_services() -> storage.EncryptionServicesArgs:
    return storage.EncryptionServicesArgs(
        blob=_account_scoped(),
        file=_account_scoped(),
        queue=_account_scoped(),
        table=_account_scoped(),
    )


def _customer_managed_encryption(
    settings: Settings,
    rg: resources.ResourceGroup,
    cmk: CustomerManagedKey,
    subscription_id: str,
) -> tuple[storage.IdentityArgs, storage.EncryptionArgs, authorization.RoleAssignment]:
    """Identity, encryption block and key grant for a customer-managed key.

    A dedicated identity unwraps the key so that training jobs, which only
    read data, never hold key permissions. The grant is scoped to the single
    key and must exist before the account is created, or creation fails.
    """
    prefix = settings.name_prefix
    cmk_identity = create_identity(f"{prefix}-storage-cmk-id", settings, rg)
    key_grant = access_control.grant(
        f"{prefix}-storage-cmk-crypto-user",
        subscription_id=subscription_id,
        role=access_control.KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
        scope=f"{cmk.key_vault_id}/keys/{cmk.key_name}",
        principal_id=cmk_identity.principal_id,
        principal_type="ServicePrincipal",
    )
    account_identity = storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[cmk_identity.id])
    encryption = storage.EncryptionArgs(
        key_source="Microsoft.Keyvault",
        key_vault_properties=storage.KeyVaultPropertiesArgs(
            key_vault_uri=cmk.key_vault_uri,
            key_name=cmk.key_name,
            key_version=cmk.key_version,
        ),
        encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=cmk_identity.id),
        require_infrastructure_encryption=True,
        services=_encryption_services(),
    )
    return account_identity, encryption, key_grant


def create_storage(
    settings: Settings,
    rg: resources.ResourceGroup,
    account_name: str,
    subscription_id: str,
) -> DataStore:
    """Declare the account, its blob service settings and the private container."""
    prefix = settings.name_prefix
    account_identity: storage.IdentityArgs | None = None
    depends_on: list[pulumi.Resource] = []
    if settings.customer_managed_key is None:
        encryption = storage.EncryptionArgs(
            key_source="Microsoft.Storage",
            require_infrastructure_encryption=True,
            services=_encryption_services(),
        )
    else:
        account_identity, encryption, key_grant = _customer_managed_encryption(
            settings, rg, settings.customer_managed_key, subscription_id
        )
        depends_on.append(key_grant)

    account = storage.StorageAccount(
        "aidatastorage",
        account_name=account_name,
        resource_group_name=rg.name,
        location=settings.location,
        kind="StorageV2",
        # Zone- and geo-redundant: training data survives a zone or a region outage.
        sku=storage.SkuArgs(name="Standard_GZRS"),
        access_tier="Hot",
        identity=account_identity,
        encryption=encryption,
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        allow_cross_tenant_replication=False,
        default_to_o_auth_authentication=True,
        is_local_user_enabled=False,
        is_sftp_enabled=False,
        allowed_copy_scope="PrivateLink",
        public_network_access="Disabled",
        # Shared keys are off, so these only bound what a re-enabled key could do (CIS 4.3, 4.5).
        key_policy=storage.KeyPolicyArgs(key_expiration_period_in_days=90),
        sas_policy=storage.SasPolicyArgs(sas_expiration_period="0.01:00:00", expiration_action="Block"),
        network_rule_set=storage.NetworkRuleSetArgs(
            default_action="Deny",
            # Lets trusted Azure services (e.g. diagnostics) reach the account.
            bypass="AzureServices",
        ),
        opts=pulumi.ResourceOptions(depends_on=depends_on),
    )

    blob_service = storage.BlobServiceProperties(
        f"{prefix}-blob-service",
        account_name=account.name,
        resource_group_name=rg.name,
        blob_services_name="default",
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True,
            days=SOFT_DELETE_DAYS,
            allow_permanent_delete=False,
        ),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True,
            days=SOFT_DELETE_DAYS,
        ),
        change_feed=storage.ChangeFeedArgs(enabled=True, retention_in_days=CHANGE_FEED_RETENTION_DAYS),
    )

    container = storage.BlobContainer(
        f"{prefix}-training-data",
        container_name=CONTAINER_NAME,
        account_name=account.name,
        resource_group_name=rg.name,
        public_access="None",
        # Soft-delete settings should be in place before data can land.
        opts=pulumi.ResourceOptions(depends_on=[blob_service]),
    )

    return DataStore(account=account, blob_service=blob_service, container=container)
