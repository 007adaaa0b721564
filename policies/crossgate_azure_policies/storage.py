"""Storage: the account that holds training data, its blob service settings and containers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from ._props import eq, fmt, get, items, number, one_of, present, require
from ._stack import StackView
from .metadata import Control, resource_rule, stack_rule

ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"


# -- StorageAccount ----------------------------------------------------------------------------

@resource_rule(Control(
    slug="storage-disallow-public-blob-access",
    description="Storage accounts must disallow anonymous (public) read access to blobs and containers.",
    severity=Severity.CRITICAL,
    resource_types=(ACCOUNT,),
    remediation="Set `allowBlobPublicAccess` to false on the storage account. Set it explicitly: older API "
                "versions and accounts created before late 2023 treat a missing value as true.",
    cis=(("3.0.0", "4.17"), ("6.0.0", "9.3.8")),
    checkov=("CKV_AZURE_190", "CKV2_AZURE_47"),
    azure_policy=("4fa4b6c0-31ca-4c0d-b10d-24b96f62a751", "13502221-8df0-4414-9937-de9c5c4e396b"),
    mcsb=("NS-2",),
))
def storage_disallow_public_blob_access(args, config):
    yield from require(args, "allowBlobPublicAccess", False, "may allow anonymous blob access",
                       absent_means="older API versions treat as true")


@resource_rule(Control(
    slug="storage-disable-public-network-access",
    description="Storage accounts must disable public network access, so data is reachable only through "
                "private endpoints.",
    severity=Severity.CRITICAL,
    resource_types=(ACCOUNT,),
    remediation="Set `publicNetworkAccess` to 'Disabled' and reach the account through a private endpoint.",
    cis=(("3.0.0", "4.6"), ("6.0.0", "9.3.2.2")),
    checkov=("CKV_AZURE_59",),
    azure_policy=("b2982f36-99f2-4db5-8eff-283140c09693", "a06d0189-92e8-4dba-b0c4-08d7669fce7d"),
    mcsb=("NS-2",),
))
def storage_disable_public_network_access(args, config):
    yield from require(args, "publicNetworkAccess", "Disabled", "allows public network access",
                       absent_means="leaves the public endpoint on")


@resource_rule(Control(
    slug="storage-network-default-deny",
    description="The storage firewall must deny by default (defense in depth even with public network "
                "access disabled).",
    severity=Severity.HIGH,
    resource_types=(ACCOUNT,),
    remediation="Set `networkRuleSet.defaultAction` to 'Deny'. Passing a `networkRuleSet` without it makes "
                "the SDK fill in 'Allow'.",
    cis=(("3.0.0", "4.7"), ("6.0.0", "9.3.2.3")),
    checkov=("CKV_AZURE_35",),
    azure_policy=("34c877ad-507e-4c82-993e-3452a6e0ad3c", "2a1a9cdf-e04d-429a-8416-3bfb72a1b26f"),
    mcsb=("NS-2",),
))
def storage_network_default_deny(args, config):
    yield from require(args, "networkRuleSet.defaultAction", "Deny", "allows all networks through its firewall",
                       absent_means="allows all networks")


@resource_rule(Control(
    slug="storage-network-no-public-ip-rules",
    description="Storage accounts must not allow IP ranges or VNet service-endpoint rules through the "
                "firewall; access is by private endpoint only.",
    severity=Severity.MEDIUM,
    resource_types=(ACCOUNT,),
    remediation="Remove every entry from `networkRuleSet.ipRules` and `networkRuleSet.virtualNetworkRules`; "
                "connect clients through the private endpoint instead.",
    azure_policy=("2a1a9cdf-e04d-429a-8416-3bfb72a1b26f",),
    mcsb=("NS-2",),
))
def storage_network_no_public_ip_rules(args, config):
    ip_rules = items(get(args.props, "networkRuleSet.ipRules"))
    vnet_rules = items(get(args.props, "networkRuleSet.virtualNetworkRules"))
    if ip_rules or vnet_rules:
        found = []
        if ip_rules:
            found.append(f"{len(ip_rules)} IP rule(s)")
        if vnet_rules:
            found.append(f"{len(vnet_rules)} virtual network rule(s)")
        yield (f"Storage account '{args.name}' lets traffic through its firewall with {' and '.join(found)}; "
               "remove networkRuleSet.ipRules and networkRuleSet.virtualNetworkRules and use the private endpoint.")


@resource_rule(Control(
    slug="storage-trusted-services-bypass",
    description="If the storage firewall has exceptions, they include trusted Azure services "
                "('AzureServices') or are 'None'; no Logging/Metrics-only bypass.",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `networkRuleSet.bypass` to 'AzureServices' (or 'None' when no trusted service needs access).",
    cis=(("3.0.0", "4.8"), ("6.0.0", "9.3.5")),
    checkov=("CKV_AZURE_36",),
    azure_policy=("c9d007d0-c057-4772-b18c-01e546713bcd",),
))
def storage_trusted_services_bypass(args, config):
    bypass = get(args.props, "networkRuleSet.bypass")
    if bypass is None:
        return
    tokens = {t.strip().casefold() for t in str(bypass).split(",") if t.strip()}
    if tokens == {"none"} or "azureservices" in tokens:
        return
    yield (f"Storage account '{args.name}' has firewall exceptions without trusted Azure services "
           f"(networkRuleSet.bypass is {fmt(bypass)}); set it to 'AzureServices' or 'None'.")


@resource_rule(Control(
    slug="storage-https-only",
    description="Storage accounts must require secure transfer (HTTPS only).",
    severity=Severity.HIGH,
    resource_types=(ACCOUNT,),
    remediation="Set `enableHttpsTrafficOnly` to true (or leave it unset: the default since API 2019-04-01 is true).",
    cis=(("3.0.0", "4.1"), ("6.0.0", "9.3.4")),
    checkov=("CKV_AZURE_3",),
    azure_policy=("404c3081-a854-4457-ae30-26a93ef643f9", "f81e3117-0093-4b17-8a60-82363134f0eb"),
    mcsb=("DP-3",),
))
def storage_https_only(args, config):
    yield from require(args, "enableHttpsTrafficOnly", True, "accepts plain HTTP", absent_ok=True)


@resource_rule(Control(
    slug="storage-min-tls-1-2",
    description="Storage accounts must require TLS 1.2 or newer.",
    severity=Severity.HIGH,
    resource_types=(ACCOUNT,),
    remediation="Set `minimumTlsVersion` to 'TLS1_2'. Set it explicitly: the API treats a missing value as TLS 1.0.",
    cis=(("3.0.0", "4.15"), ("6.0.0", "9.3.6")),
    checkov=("CKV_AZURE_44",),
    azure_policy=("fe83a0eb-a853-422d-aac2-1bffd182c5d0",),
    mcsb=("DP-3",),
))
def storage_min_tls_1_2(args, config):
    value = get(args.props, "minimumTlsVersion")
    if not one_of(value, ("TLS1_2", "TLS1_3")):
        yield from require(args, "minimumTlsVersion", "TLS1_2", "accepts TLS versions older than 1.2",
                           absent_means="the API treats as TLS 1.0")


@resource_rule(Control(
    slug="storage-disable-shared-key",
    description="Storage accounts must disable Shared Key (account key and account/service SAS) "
                "authorization, so every request is an Entra ID identity.",
    severity=Severity.HIGH,
    resource_types=(ACCOUNT,),
    remediation="Set `allowSharedKeyAccess` to false (a missing value means true), and give clients RBAC data "
                "roles instead of keys. AML workspaces then need `systemDatastoresAuthMode: 'Identity'`.",
    cis=(("6.0.0", "9.3.1.3"),),
    checkov=("CKV2_AZURE_40",),
    azure_policy=("8c6a50c6-9ffd-4ae7-986f-5fa6111f9a54", "fd9903f1-38c2-4d36-8e44-5c1c20c561e8"),
    mcsb=("IM-1",),
))
def storage_disable_shared_key(args, config):
    yield from require(args, "allowSharedKeyAccess", False, "accepts Shared Key authorization",
                       absent_means="Azure treats as true")


@resource_rule(Control(
    slug="storage-default-oauth-portal",
    description="The Azure portal must default to Entra ID authorization for the account's data.",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `defaultToOAuthAuthentication` to true.",
    cis=(("6.0.0", "9.3.3.1"),),
))
def storage_default_oauth_portal(args, config):
    yield from require(args, "defaultToOAuthAuthentication", True, "does not default the portal to Entra ID "
                       "authorization", absent_means="defaults to false")


@resource_rule(Control(
    slug="storage-infrastructure-encryption",
    description="Storage accounts must use infrastructure (double) encryption at rest.",
    severity=Severity.MEDIUM,
    resource_types=(ACCOUNT,),
    remediation="Set `encryption.requireInfrastructureEncryption` to true. It can only be set when the account "
                "is created: changing it replaces the account.",
    cis=(("3.0.0", "4.2"),),
    azure_policy=("4733ea7b-a883-42fe-8cac-97454c2a9e4a",),
    mcsb=("DP-4",),
))
def storage_infrastructure_encryption(args, config):
    yield from require(args, "encryption.requireInfrastructureEncryption", True,
                       "does not use infrastructure encryption", absent_means="defaults to false")


@resource_rule(Control(
    slug="storage-cmk-encryption",
    description="Storage accounts must encrypt data with a customer-managed key in Key Vault, unwrapped by a "
                "user-assigned identity (where data classification requires it).",
    severity=Severity.MEDIUM,
    resource_types=(ACCOUNT,),
    remediation="Set `encryption.keySource` to 'Microsoft.Keyvault' with `encryption.keyVaultProperties` "
                "(keyVaultUri, keyName) and `encryption.encryptionIdentity.encryptionUserAssignedIdentity`, and "
                "attach that identity (`identity.type` 'UserAssigned'). Grant it Key Vault Crypto Service "
                "Encryption User on the key; the vault needs purge protection.",
    cis=(("3.0.0", "4.11"),),
    checkov=("CKV2_AZURE_1",),
    azure_policy=("6fac406b-40ca-413b-bf8e-0bf964659c25",),
    mcsb=("DP-5",),
    default_level=EnforcementLevel.DISABLED,
))
def storage_cmk_encryption(args, config):
    key_source = get(args.props, "encryption.keySource")
    missing = []
    if not eq(key_source, "Microsoft.Keyvault"):
        yield (f"Storage account '{args.name}' uses platform-managed keys (encryption.keySource is "
               f"{fmt(key_source)}); set it to 'Microsoft.Keyvault' with a key in Key Vault.")
        return
    for path in ("encryption.keyVaultProperties.keyVaultUri", "encryption.keyVaultProperties.keyName",
                 "encryption.encryptionIdentity.encryptionUserAssignedIdentity"):
        if not present(args.props, path):
            missing.append(path)
    identity_type = get(args.props, "identity.type")
    if not (isinstance(identity_type, str) and "userassigned" in identity_type.casefold()):
        missing.append("identity.type 'UserAssigned'")
    if missing:
        yield (f"Storage account '{args.name}' uses a customer-managed key but does not set "
               f"{', '.join(missing)}; the key must be unwrapped by a user-assigned identity.")


@resource_rule(Control(
    slug="storage-cross-tenant-replication-disabled",
    description="Storage accounts must not allow object replication to other Entra ID tenants.",
    severity=Severity.MEDIUM,
    resource_types=(ACCOUNT,),
    remediation="Set `allowCrossTenantReplication` to false. Set it explicitly: accounts created before "
                "15 Dec 2023 and older API versions treat a missing value as true.",
    cis=(("3.0.0", "4.16"), ("6.0.0", "9.3.7")),
    azure_policy=("92a89a79-6c52-4a7e-a03f-61306fc49312",),
))
def storage_cross_tenant_replication_disabled(args, config):
    yield from require(args, "allowCrossTenantReplication", False, "may replicate data to other tenants",
                       absent_means="older API versions treat as true")


@resource_rule(Control(
    slug="storage-local-users-sftp-disabled",
    description="Storage accounts must disable SFTP and local users (identities outside Entra ID).",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `isLocalUserEnabled` to false and leave `isSftpEnabled` unset or false.",
    checkov=("CKV_AZURE_244",),
))
def storage_local_users_sftp_disabled(args, config):
    if get(args.props, "isSftpEnabled") is True:
        yield f"Storage account '{args.name}' enables SFTP (isSftpEnabled is true); set it to false."
        return
    yield from require(args, "isLocalUserEnabled", False, "allows local users",
                       absent_means="does not disable them")


@resource_rule(Control(
    slug="storage-copy-scope-restricted",
    description="Storage accounts must restrict copy operations to sources in the same tenant or reached "
                "over private link (exfiltration guard).",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `allowedCopyScope` to 'PrivateLink' (or 'AAD').",
    mcsb=("~DP-2",),
))
def storage_copy_scope_restricted(args, config):
    value = get(args.props, "allowedCopyScope")
    if not one_of(value, ("PrivateLink", "AAD")):
        state = "is not set, which allows any source" if value is None else f"is {fmt(value)}"
        yield (f"Storage account '{args.name}' does not restrict copy sources (allowedCopyScope {state}); "
               "set it to 'PrivateLink' or 'AAD'.")


_SAS_PERIOD = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def sas_period_seconds(period: str) -> int | None:
    """``'1.02:03:04'`` (d.hh:mm:ss) -> seconds, None when malformed."""
    match = _SAS_PERIOD.match(period.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@resource_rule(Control(
    slug="storage-sas-expiration-policy",
    description="Storage accounts must have a SAS expiration policy with a short maximum lifetime that "
                "blocks longer-lived tokens.",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `sasPolicy` with `sasExpirationPeriod` at most the configured maximum (default "
                "'0.01:00:00', one hour) and `expirationAction` 'Block' (the SDK fills 'Log').",
    cis=(("3.0.0", "4.5"),),
    checkov=("CKV2_AZURE_41",),
    azure_policy=("bc1b984e-ddae-40cc-801a-050a030e4fbe", "7aa1c9d5-3d7e-4579-8117-d85e99211757"),
),
    maxSasExpirationPeriod={"type": "string", "pattern": r"^(\d+\.)?\d{1,2}:\d{2}:\d{2}$", "default": "0.01:00:00",
                            "description": "Longest SAS lifetime allowed, as d.hh:mm:ss."},
)
def storage_sas_expiration_policy(args, config):
    limit = config["maxSasExpirationPeriod"]
    period = get(args.props, "sasPolicy.sasExpirationPeriod")
    action = get(args.props, "sasPolicy.expirationAction")
    if period is None:
        yield (f"Storage account '{args.name}' has no SAS expiration policy (sasPolicy is not set); set "
               f"sasPolicy.sasExpirationPeriod to at most '{limit}' and expirationAction to 'Block'.")
        return
    seconds = sas_period_seconds(str(period))
    limit_seconds = sas_period_seconds(limit)
    if seconds is None or limit_seconds is None or seconds > limit_seconds:
        yield (f"Storage account '{args.name}' allows SAS tokens valid for {fmt(period)} "
               f"(sasPolicy.sasExpirationPeriod); set it to at most '{limit}'.")
    elif not eq(action, "Block"):
        yield (f"Storage account '{args.name}' only logs SAS tokens that outlive the policy "
               f"(sasPolicy.expirationAction is {fmt(action)}); set it to 'Block'.")


@resource_rule(Control(
    slug="storage-key-expiration-policy",
    description="Storage accounts must have an account-key expiration policy (rotation reminder).",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `keyPolicy.keyExpirationPeriodInDays` to at most the configured maximum (default 90).",
    cis=(("3.0.0", "4.3"), ("6.0.0", "9.3.1.1")),
    azure_policy=("044985bb-afe1-42cd-8a36-9d5d42424537",),
    mcsb=("DP-6",),
),
    maxKeyExpirationDays={"type": "integer", "minimum": 1, "default": 90,
                          "description": "Longest account-key expiration period allowed, in days."},
)
def storage_key_expiration_policy(args, config):
    limit = config["maxKeyExpirationDays"]
    days = number(get(args.props, "keyPolicy.keyExpirationPeriodInDays"))
    if days is None:
        yield (f"Storage account '{args.name}' has no key expiration policy (keyPolicy.keyExpirationPeriodInDays "
               f"is not set); set it to at most {limit}.")
    elif days > limit:
        yield (f"Storage account '{args.name}' lets account keys live {int(days)} days "
               f"(keyPolicy.keyExpirationPeriodInDays); set it to at most {limit}.")


_GEO_REDUNDANT = ("Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS")


@resource_rule(Control(
    slug="storage-geo-redundant",
    description="Storage accounts holding critical training data must replicate to a second region.",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `sku.name` to 'Standard_GZRS' or 'Standard_RAGZRS' (or 'Standard_GRS'/'Standard_RAGRS').",
    cis=(("6.0.0", "9.3.11"),),
    checkov=("CKV_AZURE_206",),
    azure_policy=("bf045164-79ba-4215-8f95-f8048dc1780b",),
    default_level=EnforcementLevel.DISABLED,
))
def storage_geo_redundant(args, config):
    sku = get(args.props, "sku.name")
    if not one_of(sku, _GEO_REDUNDANT):
        yield (f"Storage account '{args.name}' is not geo-redundant (sku.name is {fmt(sku)}); use one of "
               f"{', '.join(_GEO_REDUNDANT)}.")


@resource_rule(Control(
    slug="storage-kind-storagev2",
    description="Storage accounts must be general-purpose v2 (needed for the other storage controls).",
    severity=Severity.LOW,
    resource_types=(ACCOUNT,),
    remediation="Set `kind` to 'StorageV2'.",
))
def storage_kind_storagev2(args, config):
    yield from require(args, "kind", "StorageV2", "is not a general-purpose v2 account")


# -- BlobContainer -----------------------------------------------------------------------------

@resource_rule(Control(
    slug="container-no-public-access",
    description="Blob containers must be private (no anonymous access level).",
    severity=Severity.CRITICAL,
    resource_types=(CONTAINER,),
    remediation="Set `publicAccess` to 'None' or leave it unset; also disallow anonymous access on the account.",
    cis=(("3.0.0", "4.17"), ("2.0.0", "3.7")),
    checkov=("CKV_AZURE_34",),
    azure_policy=("4fa4b6c0-31ca-4c0d-b10d-24b96f62a751",),
    mcsb=("NS-2",),
))
def container_no_public_access(args, config):
    yield from require(args, "publicAccess", "None", "allows anonymous access", absent_ok=True)


@resource_rule(Control(
    slug="container-immutable-storage",
    description="Containers of curated training datasets must have version-level immutability (WORM).",
    severity=Severity.LOW,
    resource_types=(CONTAINER,),
    remediation="Set `immutableStorageWithVersioning.enabled` to true (needs blob versioning on the account).",
    mcsb=("~DP-8",),
    default_level=EnforcementLevel.DISABLED,
))
def container_immutable_storage(args, config):
    yield from require(args, "immutableStorageWithVersioning.enabled", True, "is not immutable",
                       absent_means="defaults to false")


@resource_rule(Control(
    slug="container-encryption-scope-enforced",
    description="Containers must pin an encryption scope and deny per-blob scope overrides (where encryption "
                "scopes are used).",
    severity=Severity.LOW,
    resource_types=(CONTAINER,),
    remediation="Set `defaultEncryptionScope` to the scope's name and `denyEncryptionScopeOverride` to true.",
    azure_policy=("b5ec538c-daa0-4006-8596-35468b9148e8", "bfecdea6-31c4-4045-ad42-71b9dc87247d"),
    mcsb=("DP-5",),
    default_level=EnforcementLevel.DISABLED,
))
def container_encryption_scope_enforced(args, config):
    if not present(args.props, "defaultEncryptionScope"):
        yield (f"Blob container '{args.name}' has no default encryption scope (defaultEncryptionScope is not "
               "set); set it and set denyEncryptionScopeOverride to true.")
        return
    yield from require(args, "denyEncryptionScopeOverride", True, "lets blobs override its encryption scope",
                       absent_means="allows overrides")


# -- BlobServiceProperties ---------------------------------------------------------------------
# An account without a BlobServiceProperties resource has soft delete, versioning and the change
# feed off (the API's defaults), so these are stack policies: each reports a blob service with the
# wrong settings, and an account that declares none.

def blob_services_of(stack: StackView, account: PolicyResource) -> list[PolicyResource]:
    """The blob service properties of an account (by dependency, or by literal account name)."""
    services = stack.dependents(account, "accountName", BLOB_SERVICE)
    name = stack.peek(account, "accountName")
    if isinstance(name, str):
        stack.extend_unique(services, stack.with_literal(BLOB_SERVICE, "accountName", name))
    return services


def _each_blob_service(stack: StackView, what: str, check: Callable[[Any], Iterable[str]]
                       ) -> Iterator[tuple[PolicyResource, str]]:
    for account in stack.of_type(ACCOUNT):
        if eq(stack.peek(account, "kind"), "FileStorage"):
            continue  # a FileStorage account serves files only: it has no blob service to configure
        if not blob_services_of(stack, account):
            yield account, (f"Storage account '{account.name}' declares no blob service properties, so {what} "
                            "(Azure's default for accounts created through the API); declare a "
                            "storage:BlobServiceProperties for it.")
    yield from stack.each(stack.of_type(BLOB_SERVICE), check)


def _retention(service: Any, policy: str, what: str, minimum: int) -> Iterator[str]:
    enabled = get(service.props, f"{policy}.enabled")
    days = number(get(service.props, f"{policy}.days"))
    if enabled is not True:
        yield (f"Blob service '{service.name}' does not keep deleted {what} ({policy}.enabled is {fmt(enabled)}); "
               f"enable it with at least {minimum} days.")
    elif days is None or days < minimum:
        yield (f"Blob service '{service.name}' keeps deleted {what} for {fmt(days)} days ({policy}.days); "
               f"keep them at least {minimum} days.")


_MIN_RETENTION = {"type": "integer", "minimum": 1, "maximum": 365, "default": 7,
                  "description": "Shortest soft-delete retention allowed, in days."}


@stack_rule(Control(
    slug="blob-soft-delete-enabled",
    description="Blob soft delete must be enabled with a retention window (every storage account declares its "
                "blob service properties).",
    severity=Severity.MEDIUM,
    resource_types=(BLOB_SERVICE, ACCOUNT),
    remediation="Declare a `storage:BlobServiceProperties` for the account with `deleteRetentionPolicy` "
                "`{enabled: true, days: 7}` or longer (1-365).",
    cis=(("3.0.0", "4.10"), ("6.0.0", "9.2.1")),
    checkov=("CKV2_AZURE_38",),
    azure_policy=("9fbd64e3-67b8-489b-98e5-fa0007d17e76",),
    mcsb=("~DP-8",),
), minRetentionDays=_MIN_RETENTION)
def blob_soft_delete_enabled(stack, config):
    yield from _each_blob_service(stack, "deleted blobs are not kept", lambda service: _retention(
        service, "deleteRetentionPolicy", "blobs", config["minRetentionDays"]))


@stack_rule(Control(
    slug="container-soft-delete-enabled",
    description="Container soft delete must be enabled with a retention window (every storage account declares "
                "its blob service properties).",
    severity=Severity.MEDIUM,
    resource_types=(BLOB_SERVICE, ACCOUNT),
    remediation="Declare a `storage:BlobServiceProperties` for the account with `containerDeleteRetentionPolicy` "
                "`{enabled: true, days: 7}` or longer.",
    cis=(("3.0.0", "4.10"), ("6.0.0", "9.2.2")),
    azure_policy=("9fbd64e3-67b8-489b-98e5-fa0007d17e76",),
), minRetentionDays=_MIN_RETENTION)
def container_soft_delete_enabled(stack, config):
    yield from _each_blob_service(stack, "deleted containers are not kept", lambda service: _retention(
        service, "containerDeleteRetentionPolicy", "containers", config["minRetentionDays"]))


@stack_rule(Control(
    slug="blob-versioning-enabled",
    description="Blob versioning must be enabled, to recover overwritten or poisoned training data (every "
                "storage account declares its blob service properties).",
    severity=Severity.MEDIUM,
    resource_types=(BLOB_SERVICE, ACCOUNT),
    remediation="Declare a `storage:BlobServiceProperties` for the account with `isVersioningEnabled` true.",
    cis=(("6.0.0", "9.2.3"),),
    azure_policy=("c36a325b-ae04-4863-ad4f-19c6678f8e08", "978deb5d-c9a7-41f8-b4b2-b76880d0de1f"),
))
def blob_versioning_enabled(stack, config):
    yield from _each_blob_service(stack, "blob versions are not kept", lambda service: require(
        service, "isVersioningEnabled", True, "does not keep blob versions", absent_means="defaults to false"))


@resource_rule(Control(
    slug="blob-permanent-delete-disallowed",
    description="Soft-deleted blob versions and snapshots must not be permanently deletable.",
    severity=Severity.LOW,
    resource_types=(BLOB_SERVICE,),
    remediation="Set `deleteRetentionPolicy.allowPermanentDelete` to false or leave it unset.",
))
def blob_permanent_delete_disallowed(args, config):
    yield from require(args, "deleteRetentionPolicy.allowPermanentDelete", False,
                       "allows permanent deletion of soft-deleted data", absent_ok=True)


def _change_feed(service: Any, minimum: int) -> Iterator[str]:
    enabled = get(service.props, "changeFeed.enabled")
    days = number(get(service.props, "changeFeed.retentionInDays"))
    if enabled is not True:
        yield (f"Blob service '{service.name}' has no change feed (changeFeed.enabled is {fmt(enabled)}); "
               f"enable it with retentionInDays of at least {minimum}.")
    elif days is not None and days < minimum:
        yield (f"Blob service '{service.name}' keeps its change feed {int(days)} days (changeFeed.retentionInDays); "
               f"keep it at least {minimum} days.")


@stack_rule(Control(
    slug="blob-change-feed-enabled",
    description="The blob change feed must be enabled, for lineage and audit of training data.",
    severity=Severity.LOW,
    resource_types=(BLOB_SERVICE, ACCOUNT),
    remediation="Declare a `storage:BlobServiceProperties` for the account with `changeFeed.enabled` true and "
                "`retentionInDays` of at least the configured minimum (default 90), or unset for infinite retention.",
    mcsb=("~LT-3",),
    default_level=EnforcementLevel.DISABLED,
), minRetentionDays={"type": "integer", "minimum": 1, "default": 90,
                     "description": "Shortest change-feed retention allowed, in days."})
def blob_change_feed_enabled(stack, config):
    yield from _each_blob_service(stack, "there is no change feed",
                                  lambda service: _change_feed(service, config["minRetentionDays"]))


RULES = (
    storage_disallow_public_blob_access,
    storage_disable_public_network_access,
    storage_network_default_deny,
    storage_network_no_public_ip_rules,
    storage_trusted_services_bypass,
    storage_https_only,
    storage_min_tls_1_2,
    storage_disable_shared_key,
    storage_default_oauth_portal,
    storage_infrastructure_encryption,
    storage_cmk_encryption,
    storage_cross_tenant_replication_disabled,
    storage_local_users_sftp_disabled,
    storage_copy_scope_restricted,
    storage_sas_expiration_policy,
    storage_key_expiration_policy,
    storage_geo_redundant,
    storage_kind_storagev2,
    container_no_public_access,
    container_immutable_storage,
    container_encryption_scope_enforced,
    blob_soft_delete_enabled,
    container_soft_delete_enabled,
    blob_versioning_enabled,
    blob_permanent_delete_disallowed,
    blob_change_feed_enabled,
)


def account_problems(props: Mapping[str, Any]) -> list[str]:
    """Why a storage account used by another resource is not locked down (for stack policies)."""
    problems = []
    if get(props, "allowBlobPublicAccess") is not False:
        problems.append("anonymous blob access is not disallowed")
    if not eq(get(props, "publicNetworkAccess"), "Disabled"):
        problems.append("public network access is not disabled")
    if get(props, "allowSharedKeyAccess") is not False:
        problems.append("Shared Key access is not disabled")
    return problems
