"""Stack configuration for the AI data platform, validated before any resource exists.

Every value the program needs is read here and checked as a whole, so a typo in
``Pulumi.<stack>.yaml`` stops the run with one line naming the offending key
instead of surfacing minutes later as an Azure API error halfway through a
deployment. :func:`load` is pure (a mapping in, :class:`Settings` out) so the
rules can be unit-tested without a Pulumi engine; :func:`from_stack_config` is
the thin adapter over ``pulumi.Config``.

Keys (namespace ``ai-data-platform:``):

``location`` (required)
    Canonical Azure region name, e.g. ``westeurope``.
``namePrefix`` (required)
    3-12 characters, lowercase letters, digits and single hyphens, starting
    with a letter; prefixes every logical name and the globally-unique storage
    account and key vault names.
``vnetCidr``, ``workloadSubnetCidr``, ``privateEndpointSubnetCidr`` (required)
    IPv4 CIDRs. Both subnets must lie inside the VNet, must not overlap, and
    must be /29 or larger (Azure's smallest subnet).
``dataReaderPrincipals`` (optional, default ``[]``)
    List of ``{"principalId": <object id GUID>, "principalType": "User" |
    "Group" | "ServicePrincipal"}`` granted Storage Blob Data Reader on the
    training-data container.
``customerManagedKey`` (optional)
    ``{"keyVaultId": <ARM id of the vault holding the key>, "keyVaultUri":
    "https://<vault>.vault.azure.net/", "keyName": <name>, "keyVersion":
    <optional; omit to follow the latest version>}``. When set, the storage
    account encrypts with this key through a dedicated user-assigned identity.
``logRetentionDays`` (optional, default 90)
    Log Analytics retention, 30-730 days.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi

NAMESPACE = "ai-data-platform"

REQUIRED_KEYS = (
    "location",
    "namePrefix",
    "vnetCidr",
    "workloadSubnetCidr",
    "privateEndpointSubnetCidr",
)
OPTIONAL_KEYS = ("dataReaderPrincipals", "customerManagedKey", "logRetentionDays")
# Keys whose stack-config value is JSON (a YAML list or mapping in the stack file).
STRUCTURED_KEYS = frozenset({"dataReaderPrincipals", "customerManagedKey"})

DEFAULT_LOG_RETENTION_DAYS = 90
# Retention bounds Log Analytics accepts for the PerGB2018 SKU.
MIN_LOG_RETENTION_DAYS = 30
MAX_LOG_RETENTION_DAYS = 730
# Azure reserves five addresses per subnet, so /29 is the smallest it accepts.
SMALLEST_SUBNET_PREFIX = 29
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")

_LOCATION_RE = re.compile(r"^[a-z][a-z0-9]*$")
# Single hyphens only: Key Vault names reject consecutive hyphens, and the
# prefix must leave room for suffixes within the 24-character name limits.
_NAME_PREFIX_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){2,11}$")
_KEY_VAULT_ID_RE = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+"
    r"/providers/Microsoft\.KeyVault/vaults/(?P<name>[A-Za-z0-9-]{3,24})$"
)
_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,127}$")
_KEY_VERSION_RE = re.compile(r"^[0-9a-fA-F]{32}$")


class ConfigError(pulumi.RunError):
    """A stack-config value is missing or malformed.

    Subclasses ``pulumi.RunError`` so the engine prints the one-line message
    without a Python traceback.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid config {NAMESPACE}:{key}: {reason}")


@dataclass(frozen=True)
class Principal:
    """An Entra ID principal to be granted read access to the training data."""

    principal_id: str
    principal_type: str


@dataclass(frozen=True)
class CustomerManagedKey:
    """A Key Vault key, owned outside this stack, that encrypts the storage account.

    Its vault must have purge protection on and, if its firewall is closed,
    let trusted Azure services through, as Azure Storage requires for CMK.
    """

    key_vault_id: str
    key_vault_uri: str
    key_name: str
    key_version: str | None


@dataclass(frozen=True)
class Settings:
    """Validated stack configuration; the only input the resource modules read."""

    location: str
    name_prefix: str
    vnet_cidr: ipaddress.IPv4Network
    workload_subnet_cidr: ipaddress.IPv4Network
    private_endpoint_subnet_cidr: ipaddress.IPv4Network
    data_reader_principals: tuple[Principal, ...]
    customer_managed_key: CustomerManagedKey | None
    log_retention_days: int


def load(raw: Mapping[str, Any]) -> Settings:
    """Validate raw config values (key without namespace -> value) into Settings.

    Structured keys may be given already parsed (list/dict); scalars may be
    strings, as ``pulumi.Config.get`` returns them. Raises :class:`ConfigError`
    on the first problem found, checking keys in declaration order.
    """
    for key in REQUIRED_KEYS:
        if raw.get(key) in (None, ""):
            raise ConfigError(key, "missing required value")

    location = _location(raw["location"])
    name_prefix = _name_prefix(raw["namePrefix"])
    vnet = _cidr("vnetCidr", raw["vnetCidr"])
    workload = _subnet("workloadSubnetCidr", raw["workloadSubnetCidr"], vnet)
    private_endpoint = _subnet("privateEndpointSubnetCidr", raw["privateEndpointSubnetCidr"], vnet)
    if private_endpoint.overlaps(workload):
        raise ConfigError(
            "privateEndpointSubnetCidr",
            f"'{private_endpoint}' overlaps workloadSubnetCidr '{workload}'",
        )

    return Settings(
        location=location,
        name_prefix=name_prefix,
        vnet_cidr=vnet,
        workload_subnet_cidr=workload,
        private_endpoint_subnet_cidr=private_endpoint,
        data_reader_principals=_principals(raw.get("dataReaderPrincipals")),
        customer_managed_key=_customer_managed_key(raw.get("customerManagedKey")),
        log_retention_days=_retention(raw.get("logRetentionDays")),
    )


def from_stack_config() -> Settings:
    """Read this project's namespace from the current stack and validate it."""
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        text = config.get(key)
        if text is None:
            continue
        raw[key] = config.get_object(key) if key in STRUCTURED_KEYS else text
    return load(raw)


def _location(value: Any) -> str:
    if not isinstance(value, str) or not _LOCATION_RE.match(value):
        raise ConfigError(
            "location", f"{value!r} is not a canonical Azure region name (e.g. 'westeurope')"
        )
    return value


def _name_prefix(value: Any) -> str:
    if not isinstance(value, str) or not _NAME_PREFIX_RE.match(value):
        raise ConfigError(
            "namePrefix",
            f"{value!r} must be 3-12 lowercase letters, digits or single hyphens, "
            "starting with a letter and not ending with a hyphen",
        )
    return value


def _cidr(key: str, value: Any) -> ipaddress.IPv4Network:
    if not isinstance(value, str) or "/" not in value:
        raise ConfigError(key, f"{value!r} is not a valid CIDR")
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(key, f"{value!r} is not a valid CIDR") from None
        raise ConfigError(key, f"{value!r} has host bits set (did you mean '{loose}'?)") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ConfigError(key, f"{value!r} is not an IPv4 CIDR")
    return network


def _subnet(key: str, value: Any, vnet: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    subnet = _cidr(key, value)
    if not subnet.subnet_of(vnet):
        raise ConfigError(key, f"'{subnet}' is not inside vnetCidr '{vnet}'")
    if subnet.prefixlen > SMALLEST_SUBNET_PREFIX:
        raise ConfigError(
            key, f"'{subnet}' is smaller than /{SMALLEST_SUBNET_PREFIX}, the smallest subnet Azure allows"
        )
    return subnet


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _principals(value: Any) -> tuple[Principal, ...]:
    key = "dataReaderPrincipals"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(key, "must be a list of {principalId, principalType} objects")
    principals: list[Principal] = []
    for index, entry in enumerate(value):
        item = f"{key}[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(item, "must be an object with principalId and principalType")
        principal_id = entry.get("principalId")
        if not _is_guid(principal_id):
            raise ConfigError(f"{item}.principalId", f"{principal_id!r} is not a GUID")
        principal_type = entry.get("principalType")
        if principal_type not in PRINCIPAL_TYPES:
            raise ConfigError(
                f"{item}.principalType",
                f"{principal_type!r} is not one of {', '.join(PRINCIPAL_TYPES)}",
            )
        principal = Principal(principal_id.lower(), principal_type)
        if any(p.principal_id == principal.principal_id for p in principals):
            raise ConfigError(f"{item}.principalId", f"'{principal_id}' is listed more than once")
        principals.append(principal)
    return tuple(principals)


def _customer_managed_key(value: Any) -> CustomerManagedKey | None:
    key = "customerManagedKey"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(key, "must be an object with keyVaultId, keyVaultUri and keyName")

    vault_id = value.get("keyVaultId")
    match = _KEY_VAULT_ID_RE.match(vault_id) if isinstance(vault_id, str) else None
    if match is None:
        raise ConfigError(f"{key}.keyVaultId", f"{vault_id!r} is not a Key Vault resource id")

    vault_uri = value.get("keyVaultUri")
    parts = urlsplit(vault_uri) if isinstance(vault_uri, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"{key}.keyVaultUri", f"{vault_uri!r} is not an https:// vault URI")
    # The URI and the id must name the same vault, or the account would be
    # granted access to one vault while encrypting with another.
    if parts.hostname.split(".", 1)[0].lower() != match["name"].lower():
        raise ConfigError(
            f"{key}.keyVaultUri",
            f"'{vault_uri}' does not name vault '{match['name']}' from keyVaultId",
        )

    key_name = value.get("keyName")
    if not isinstance(key_name, str) or not _KEY_NAME_RE.match(key_name):
        raise ConfigError(f"{key}.keyName", f"{key_name!r} is not a Key Vault key name")

    key_version = value.get("keyVersion")
    if key_version is not None and not (
        isinstance(key_version, str) and _KEY_VERSION_RE.match(key_version)
    ):
        raise ConfigError(f"{key}.keyVersion", f"{key_version!r} is not a 32-hex-digit key version")

    return CustomerManagedKey(
        key_vault_id=vault_id,
        key_vault_uri=f"https://{parts.hostname}/",
        key_name=key_name,
        key_version=key_version,
    )


def _retention(value: Any) -> int:
    key = "logRetentionDays"
    if value is None:
        return DEFAULT_LOG_RETENTION_DAYS
    # bool is an int subclass, but `true` is never a number of days.
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        days = int(value)
    else:
        days = None
    if days is None or not MIN_LOG_RETENTION_DAYS <= days <= MAX_LOG_RETENTION_DAYS:
        raise ConfigError(
            key,
            f"{value!r} must be a whole number of days from "
            f"{MIN_LOG_RETENTION_DAYS} to {MAX_LOG_RETENTION_DAYS}",
        )
    return days
