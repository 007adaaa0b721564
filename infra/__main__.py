"""Private landing zone for AI training data on Azure.

Composes the per-family modules: an isolated VNet, a storage account and a key
vault reachable only through private endpoints, a user-assigned identity that
training jobs use to read both, and central logging. Configuration is
validated first, so a bad stack file fails before anything is declared.
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, resources

import access_control
import platform_config
from data_storage import create_storage
from identity import create_identity
from monitoring import create_workspace, send_logs
from naming import blob_endpoint_url, key_vault_name, storage_account_name
from networking import create_network
from private_link import create_private_link
from vault import create_key_vault

# Log category groups for the blob service and the vault ("audit" is the
# security-relevant subset of "allLogs"); NSGs only offer "allLogs".
AUDIT_AND_ALL_LOGS = ("audit", "allLogs")

settings = platform_config.from_stack_config()
prefix = settings.name_prefix

client = authorization.get_client_config()
# Seeds the global-name suffixes: stable per subscription, project and stack.
name_seed = f"{client.subscription_id}/{pulumi.get_project()}/{pulumi.get_stack()}/{prefix}"

rg = resources.ResourceGroup(f"{prefix}-rg", location=settings.location)

net = create_network(settings, rg)

data = create_storage(settings, rg, storage_account_name(prefix, name_seed), client.subscription_id)
key_vault = create_key_vault(settings, rg, key_vault_name(prefix, name_seed), client.tenant_id)

create_private_link(
    f"{prefix}-blob",
    settings,
    rg,
    net,
    target_id=data.account.id,
    group_id="blob",
    zone_name="privatelink.blob.core.windows.net",
)
create_private_link(
    f"{prefix}-kv",
    settings,
    rg,
    net,
    target_id=key_vault.id,
    group_id="vault",
    zone_name="privatelink.vaultcore.azure.net",
)

training_identity = create_identity(f"{prefix}-training-id", settings, rg)
access_control.grant(
    f"{prefix}-training-blob-reader",
    subscription_id=client.subscription_id,
    role=access_control.STORAGE_BLOB_DATA_READER,
    scope=data.container.id,
    principal_id=training_identity.principal_id,
    principal_type="ServicePrincipal",
)
access_control.grant(
    f"{prefix}-training-secrets-user",
    subscription_id=client.subscription_id,
    role=access_control.KEY_VAULT_SECRETS_USER,
    scope=key_vault.id,
    principal_id=training_identity.principal_id,
    principal_type="ServicePrincipal",
)
for reader in settings.data_reader_principals:
    access_control.grant(
        f"{prefix}-data-reader-{reader.principal_id}",
        subscription_id=client.subscription_id,
        role=access_control.STORAGE_BLOB_DATA_READER,
        scope=data.container.id,
        principal_id=reader.principal_id,
        principal_type=reader.principal_type,
    )

workspace = create_workspace(settings, rg)
send_logs(
    f"{prefix}-blob-diagnostics",
    resource_uri=pulumi.Output.concat(data.account.id, "/blobServices/default"),
    workspace=workspace,
    category_groups=AUDIT_AND_ALL_LOGS,
)
send_logs(
    f"{prefix}-kv-diagnostics",
    resource_uri=key_vault.id,
    workspace=workspace,
    category_groups=AUDIT_AND_ALL_LOGS,
)
for role, nsg in net.security_groups.items():
    send_logs(
        f"{prefix}-{role}-nsg-diagnostics",
        resource_uri=nsg.id,
        workspace=workspace,
        category_groups=("allLogs",),
    )

pulumi.export("blobEndpoint", data.account.name.apply(blob_endpoint_url))
pulumi.export("containerName", data.container.name)
pulumi.export("vaultUri", key_vault.properties.apply(lambda properties: properties.vault_uri))
pulumi.export("identityClientId", training_identity.client_id)
pulumi.export("identityPrincipalId", training_identity.principal_id)
pulumi.export("identityId", training_identity.id)
