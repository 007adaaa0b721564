"""Key Vault: the vault that holds training secrets and keys, and the keys and secrets in it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ._props import canonical_type, eq, fmt, get, items, number, one_of, present, require
from .metadata import Control, resource_rule

VAULT = "azure-native:keyvault:Vault"
ACCESS_POLICY = "azure-native:keyvault:AccessPolicy"
KEY = "azure-native:keyvault:Key"
SECRET = "azure-native:keyvault:Secret"

_DAY = 86400


# -- Vault -------------------------------------------------------------------------------------

@resource_rule(Control(
    slug="kv-rbac-authorization",
    description="Key vaults must authorize data-plane access with Azure RBAC, not access policies.",
    severity=Severity.CRITICAL,
    resource_types=(VAULT, ACCESS_POLICY),
    remediation="Set `properties.enableRbacAuthorization` to true (the SDK fills false when it is omitted) and "
                "grant data roles with role assignments; don't declare `keyvault:AccessPolicy` resources (or "
                "`Microsoft.KeyVault/vaults/accessPolicies` in templates), which grant access the RBAC way "
                "doesn't see.",
    cis=(("3.0.0", "3.3.6"), ("6.0.0", "8.3.6")),
    azure_policy=("12d4fa5e-1f9f-4c21-97a9-b99b3c6611b5",),
    mcsb=("PA-7",),
))
def kv_rbac_authorization(args, config):
    if canonical_type(args.resource_type) == ACCESS_POLICY:
        yield from _access_policy_grants(args)
        return
    yield from require(args, "properties.enableRbacAuthorization", True, "uses access policies instead of RBAC",
                       absent_means="means access policies for API versions before 2026-02-01")


def _access_policy_grants(args: Any) -> Iterator[str]:
    """An access-policy resource grants data-plane access outside RBAC (whatever vault it names, in the
    stack or not); only the ARM form's 'remove' operation grants nothing."""
    if eq(get(args.props, "operationKind"), "remove"):
        return
    entries = len(items(get(args.props, "properties.accessPolicies"))) + (1 if present(args.props, "policy") else 0)
    yield (f"Key vault access policy '{args.name}' grants data-plane access through {max(entries, 1)} access "
           f"polic{'y' if max(entries, 1) == 1 else 'ies'} instead of RBAC; remove it and grant a Key Vault role "
           "with a role assignment.")


@resource_rule(Control(
    slug="kv-no-access-policies",
    description="Key vaults must not declare legacy access-policy entries.",
    severity=Severity.MEDIUM,
    resource_types=(VAULT,),
    remediation="Remove `properties.accessPolicies` (or leave it empty) and grant access with RBAC role "
                "assignments; access policies come back into force if RBAC is ever switched off.",
    mcsb=("~PA-7",),
))
def kv_no_access_policies(args, config):
    policies = items(get(args.props, "properties.accessPolicies"))
    if policies:
        yield (f"Key vault '{args.name}' declares {len(policies)} access polic{'y' if len(policies) == 1 else 'ies'} "
               "(properties.accessPolicies); remove them and use RBAC role assignments.")


@resource_rule(Control(
    slug="kv-public-network-disabled",
    description="Key vaults must disable public network access (private endpoint and trusted services only).",
    severity=Severity.CRITICAL,
    resource_types=(VAULT,),
    remediation="Set `properties.publicNetworkAccess` to 'disabled' (the SDK fills 'enabled' when it is omitted).",
    cis=(("6.0.0", "8.3.7"),),
    checkov=("CKV_AZURE_189",),
    azure_policy=("405c5871-3e91-4644-8a63-58e19d68ff5b", "55615ac9-af46-4a59-874e-391cc3dfb490"),
    mcsb=("DP-8", "NS-2"),
))
def kv_public_network_disabled(args, config):
    yield from require(args, "properties.publicNetworkAccess", "disabled", "allows public network access",
                       absent_means="Azure treats as 'enabled'")


@resource_rule(Control(
    slug="kv-network-default-deny",
    description="The key vault firewall must deny by default, with no IP allow-rules and only the "
                "'AzureServices' (or no) bypass.",
    severity=Severity.HIGH,
    resource_types=(VAULT,),
    remediation="Set `properties.networkAcls` to `{defaultAction: 'Deny', bypass: 'AzureServices'}` with no "
                "`ipRules`.",
    checkov=("CKV_AZURE_109",),
    azure_policy=("55615ac9-af46-4a59-874e-391cc3dfb490", "ac673a9a-f77d-4846-b2d8-a57f8e1c01dc"),
    mcsb=("DP-8", "NS-2"),
))
def kv_network_default_deny(args, config):
    acls = get(args.props, "properties.networkAcls")
    if acls is None:
        yield (f"Key vault '{args.name}' has no firewall (properties.networkAcls is not set, which allows all "
               "networks); set defaultAction to 'Deny'.")
        return
    action = get(acls, "defaultAction")
    ip_rules = items(get(acls, "ipRules"))
    bypass = get(acls, "bypass")
    problems = []
    if not eq(action, "Deny"):
        problems.append(f"defaultAction is {fmt(action)}")
    if ip_rules:
        problems.append(f"{len(ip_rules)} IP rule(s) are allowed")
    if bypass is not None and not one_of(bypass, ("AzureServices", "None")):
        problems.append(f"bypass is {fmt(bypass)}")
    if problems:
        yield (f"Key vault '{args.name}' firewall is open ({'; '.join(problems)} in properties.networkAcls); "
               "set defaultAction to 'Deny', remove ipRules and use bypass 'AzureServices' or 'None'.")


@resource_rule(Control(
    slug="kv-purge-protection",
    description="Key vaults must have purge protection enabled.",
    severity=Severity.HIGH,
    resource_types=(VAULT,),
    remediation="Set `properties.enablePurgeProtection` to true (irreversible; in throwaway stacks use random "
                "vault names, since a purged name stays reserved for the retention period).",
    cis=(("3.0.0", "3.3.5"), ("6.0.0", "8.3.5")),
    checkov=("CKV_AZURE_110", "CKV_AZURE_42"),
    azure_policy=("0b60c0b2-2dc2-4e1c-b5c9-abbed971de53",),
    mcsb=("DP-8",),
))
def kv_purge_protection(args, config):
    yield from require(args, "properties.enablePurgeProtection", True, "can be purged before its retention ends",
                       absent_means="Azure treats as false")


@resource_rule(Control(
    slug="kv-soft-delete",
    description="Key vaults must keep soft delete on, with a retention of 7 to 90 days.",
    severity=Severity.MEDIUM,
    resource_types=(VAULT,),
    remediation="Leave `properties.enableSoftDelete` true and set `properties.softDeleteRetentionInDays` "
                "between the configured minimum (default 7) and 90; 90 is recommended.",
    cis=(("3.0.0", "3.3.5"),),
    checkov=("CKV_AZURE_111", "CKV_AZURE_42"),
    azure_policy=("1e66c121-a66a-4b1f-9b83-0fd99bf0fc2d",),
    mcsb=("DP-8",),
), minRetentionDays={"type": "integer", "minimum": 7, "maximum": 90, "default": 7,
                     "description": "Shortest soft-delete retention allowed, in days."})
def kv_soft_delete(args, config):
    minimum = config["minRetentionDays"]
    if get(args.props, "properties.enableSoftDelete") is False:
        yield (f"Key vault '{args.name}' disables soft delete (properties.enableSoftDelete is false); "
               "set it to true.")
        return
    days = number(get(args.props, "properties.softDeleteRetentionInDays"))
    if days is not None and not minimum <= days <= 90:
        yield (f"Key vault '{args.name}' keeps deleted items {int(days)} days "
               f"(properties.softDeleteRetentionInDays); set it between {minimum} and 90.")


@resource_rule(Control(
    slug="kv-arm-access-flags-disabled",
    description="Key vaults must not release secrets to VM deployment, ARM template deployment or disk "
                "encryption unless required.",
    severity=Severity.LOW,
    resource_types=(VAULT,),
    remediation="Set `properties.enabledForDeployment`, `enabledForTemplateDeployment` and "
                "`enabledForDiskEncryption` to false.",
    mcsb=("~PA-7",),
))
def kv_arm_access_flags_disabled(args, config):
    flags = [f for f in ("enabledForDeployment", "enabledForTemplateDeployment", "enabledForDiskEncryption")
             if get(args.props, f"properties.{f}") is True]
    if flags:
        yield (f"Key vault '{args.name}' releases secrets to Azure services ({', '.join(flags)} "
               f"{'is' if len(flags) == 1 else 'are'} true); set {'it' if len(flags) == 1 else 'them'} to false.")


# -- Key and Secret ----------------------------------------------------------------------------

_MAX_VALIDITY = {"type": "integer", "minimum": 1, "default": 365,
                 "description": "Longest validity allowed from now, in days."}


def _expiry(args: Any, what: str, limit_days: int) -> list[str]:
    expires = number(get(args.props, "properties.attributes.expires"))
    if expires is None:
        return [f"{what} '{args.name}' never expires (properties.attributes.expires is not set); set an expiry "
                f"within {limit_days} days."]
    horizon = time.time() + limit_days * _DAY
    if expires > horizon:
        days = int((expires - time.time()) // _DAY)
        return [f"{what} '{args.name}' expires in {days} days (properties.attributes.expires); set an expiry "
                f"within {limit_days} days."]
    return []


@resource_rule(Control(
    slug="kv-key-expiration",
    description="Key Vault keys must have an expiration date within the maximum validity period.",
    severity=Severity.MEDIUM,
    resource_types=(KEY,),
    remediation="Set `properties.attributes.expires` (Unix seconds) no further ahead than the configured "
                "maximum (default 365 days), and rotate before it.",
    cis=(("3.0.0", "3.3.1"), ("3.0.0", "3.3.2"), ("6.0.0", "8.3.1"), ("6.0.0", "8.3.2")),
    checkov=("CKV_AZURE_40",),
    azure_policy=("152b15f7-8e1f-4c1f-ab71-8c010ba5dbc0", "49a22571-d204-4c91-a7b6-09b1a586fbc9"),
    mcsb=("DP-6",),
), maxValidityDays=_MAX_VALIDITY)
def kv_key_expiration(args, config):
    yield from _expiry(args, "Key", config["maxValidityDays"])


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration_days(text: Any) -> float | None:
    """An ISO-8601 duration (``P90D``, ``P1Y``, ``P2M``, ``PT12H``) in days; years are 365 and months 30."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT"):
        return None
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    return y * 365 + mo * 30 + w * 7 + d + (h * 3600 + mi * 60 + s) / _DAY


@resource_rule(Control(
    slug="kv-key-rotation-policy",
    description="Key Vault keys must have an automatic rotation policy within the maximum rotation interval.",
    severity=Severity.MEDIUM,
    resource_types=(KEY,),
    remediation="Set `properties.rotationPolicy` with `attributes.expiryTime` (e.g. 'P1Y') and a lifetime "
                "action of type 'rotate' triggered by `timeAfterCreate` (or `timeBeforeExpiry`) so that the key "
                "rotates within the configured maximum (default 365 days).",
    cis=(("3.0.0", "3.3.8"), ("6.0.0", "8.3.9")),
    azure_policy=("d8cf8476-a2ec-4916-896e-992351803c44",),
    mcsb=("DP-6",),
), maxRotationDays={"type": "integer", "minimum": 1, "default": 365,
                    "description": "Longest time from creation to rotation allowed, in days."})
def kv_key_rotation_policy(args, config):
    limit = config["maxRotationDays"]
    policy = get(args.props, "properties.rotationPolicy")
    if policy is None:
        yield (f"Key '{args.name}' has no rotation policy (properties.rotationPolicy is not set); add one that "
               f"rotates within {limit} days.")
        return
    expiry = duration_days(get(policy, "attributes.expiryTime"))
    if expiry is None:
        yield (f"Key '{args.name}' rotation policy sets no expiry (rotationPolicy.attributes.expiryTime is "
               f"{fmt(get(policy, 'attributes.expiryTime'))}); set an ISO-8601 duration such as 'P1Y'.")
        return
    intervals = []
    for action in items(get(policy, "lifetimeActions")):
        if not eq(get(action, "action.type"), "rotate"):
            continue
        after_create = duration_days(get(action, "trigger.timeAfterCreate"))
        before_expiry = duration_days(get(action, "trigger.timeBeforeExpiry"))
        if after_create is not None:
            intervals.append(after_create)
        elif before_expiry is not None:
            intervals.append(expiry - before_expiry)
    if not intervals:
        yield (f"Key '{args.name}' rotation policy has no 'rotate' lifetime action with a trigger; add one with "
               f"trigger.timeAfterCreate of at most P{limit}D.")
    elif min(intervals) > limit:
        yield (f"Key '{args.name}' rotates only after {int(min(intervals))} days (rotationPolicy.lifetimeActions); "
               f"rotate within {limit} days.")


@resource_rule(Control(
    slug="kv-key-hsm-backed",
    description="Key Vault keys must be HSM-protected (needs a premium vault).",
    severity=Severity.LOW,
    resource_types=(KEY,),
    remediation="Set `properties.kty` to 'RSA-HSM' or 'EC-HSM' and use a premium-SKU vault.",
    checkov=("CKV_AZURE_112",),
    azure_policy=("587c79fe-dd04-4a5e-9d0b-f89598c7261b",),
    default_level=EnforcementLevel.DISABLED,
))
def kv_key_hsm_backed(args, config):
    kty = get(args.props, "properties.kty")
    if not one_of(kty, ("RSA-HSM", "EC-HSM")):
        yield (f"Key '{args.name}' is software-protected (properties.kty is {fmt(kty)}); use 'RSA-HSM' or "
               "'EC-HSM'.")


@resource_rule(Control(
    slug="kv-key-strength",
    description="Key Vault keys must be strong: RSA of at least 2048 bits, EC on P-256, P-384 or P-521.",
    severity=Severity.LOW,
    resource_types=(KEY,),
    remediation="Set `properties.keySize` to 2048 or more (3072 preferred) for RSA keys, or "
                "`properties.curveName` to 'P-256', 'P-384' or 'P-521' for EC keys.",
    azure_policy=("82067dbb-e53b-4e06-b631-546d197452d9", "ff25f3c8-b739-4538-9d07-3d6d25cfb255"),
),
    minRsaKeySize={"type": "integer", "minimum": 2048, "default": 2048,
                   "description": "Smallest RSA key size allowed, in bits."},
    allowedCurves={"type": "array", "items": {"type": "string"}, "default": ["P-256", "P-384", "P-521"],
                   "description": "Elliptic curves allowed."},
)
def kv_key_strength(args, config):
    kty = str(get(args.props, "properties.kty") or "").upper()
    if kty.startswith("RSA"):
        size = number(get(args.props, "properties.keySize"))
        if size is not None and size < config["minRsaKeySize"]:
            yield (f"Key '{args.name}' is a {int(size)}-bit RSA key (properties.keySize); use at least "
                   f"{config['minRsaKeySize']} bits.")
    elif kty.startswith("EC"):
        curve = get(args.props, "properties.curveName")
        if curve is not None and not one_of(curve, config["allowedCurves"]):
            yield (f"Key '{args.name}' uses curve {fmt(curve)} (properties.curveName); use one of "
                   f"{', '.join(config['allowedCurves'])}.")


@resource_rule(Control(
    slug="kv-key-not-exportable",
    description="Key Vault key material must not be exportable and must carry no release policy unless "
                "explicitly needed.",
    severity=Severity.LOW,
    resource_types=(KEY,),
    remediation="Set `properties.attributes.exportable` to false (or leave it unset) and remove "
                "`properties.releasePolicy`.",
))
def kv_key_not_exportable(args, config):
    if get(args.props, "properties.attributes.exportable") is True:
        yield (f"Key '{args.name}' is exportable (properties.attributes.exportable is true); set it to false.")
    elif present(args.props, "properties.releasePolicy"):
        yield (f"Key '{args.name}' has a release policy (properties.releasePolicy is set); remove it unless key "
               "release is required.")


@resource_rule(Control(
    slug="kv-secret-expiration",
    description="Key Vault secrets must have an expiration date within the maximum validity period.",
    severity=Severity.MEDIUM,
    resource_types=(SECRET,),
    remediation="Set `properties.attributes.expires` (Unix seconds) no further ahead than the configured maximum "
                "(default 365 days), and rotate the secret before it.",
    cis=(("3.0.0", "3.3.3"), ("3.0.0", "3.3.4"), ("6.0.0", "8.3.3"), ("6.0.0", "8.3.4")),
    checkov=("CKV_AZURE_41",),
    azure_policy=("98728c90-32c7-4049-8429-847dc0f4fe37", "342e8053-e12e-4c44-be01-c3c2f318400f"),
    mcsb=("DP-6",),
), maxValidityDays=_MAX_VALIDITY)
def kv_secret_expiration(args, config):
    yield from _expiry(args, "Secret", config["maxValidityDays"])


@resource_rule(Control(
    slug="kv-secret-content-type",
    description="Key Vault secrets must declare a content type.",
    severity=Severity.LOW,
    resource_types=(SECRET,),
    remediation="Set `properties.contentType` (e.g. 'text/plain' or 'application/x-pkcs12').",
    checkov=("CKV_AZURE_114",),
    azure_policy=("75262d3e-ba4a-4f43-85f8-9f72c090e5e3",),
))
def kv_secret_content_type(args, config):
    if not present(args.props, "properties.contentType"):
        yield (f"Secret '{args.name}' has no content type (properties.contentType is not set); set it, "
               "e.g. 'text/plain'.")


RULES = (
    kv_rbac_authorization,
    kv_no_access_policies,
    kv_public_network_disabled,
    kv_network_default_deny,
    kv_purge_protection,
    kv_soft_delete,
    kv_arm_access_flags_disabled,
    kv_key_expiration,
    kv_key_rotation_policy,
    kv_key_hsm_backed,
    kv_key_strength,
    kv_key_not_exportable,
    kv_secret_expiration,
    kv_secret_content_type,
)


def vault_problems(props: Mapping[str, Any]) -> list[str]:
    """Why a vault used by another resource is not locked down (for stack policies)."""
    problems = []
    if get(props, "properties.enableRbacAuthorization") is not True:
        problems.append("RBAC authorization is not enabled")
    if not eq(get(props, "properties.publicNetworkAccess"), "disabled"):
        problems.append("public network access is not disabled")
    if get(props, "properties.enablePurgeProtection") is not True:
        problems.append("purge protection is not enabled")
    return problems
