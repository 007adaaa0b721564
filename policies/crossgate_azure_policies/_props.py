"""Small helpers every policy uses: type tokens, property paths, unknowns and enum comparison.

Properties reach a policy wrapped by pulumi-policy in a proxy that raises ``UnknownValueError`` when
a value that is unknown during preview is read. :func:`get` keeps that behaviour (a resource policy
reading a literal field it needs should be indeterminate if the field is unknown); :func:`peek` and
:func:`present` never raise, for stack policies and for "is it set at all" checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from ._types import canonical_type, type_matches

__all__ = [
    "UNKNOWN", "UnknownValueError", "canonical_type", "type_matches", "label", "get", "peek", "present",
    "items", "is_unknown", "eq", "one_of", "fmt", "as_list", "last_segment", "number", "require",
    "is_internet_source",
]


class _Unknown:
    """The marker :func:`peek` returns for a value that is unknown until deployment."""

    _instance: "_Unknown | None" = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


# -- type tokens (recognised in _types; re-exported for the policies) ---------------------------

_LABELS = {
    "azure-native:storage:StorageAccount": "Storage account",
    "azure-native:storage:BlobContainer": "Blob container",
    "azure-native:storage:BlobServiceProperties": "Blob service",
    "azure-native:keyvault:Vault": "Key vault",
    "azure-native:keyvault:AccessPolicy": "Key vault access policy",
    "azure-native:keyvault:Key": "Key",
    "azure-native:keyvault:Secret": "Secret",
    "azure-native:network:VirtualNetwork": "Virtual network",
    "azure-native:network:Subnet": "Subnet",
    "azure-native:network:NetworkSecurityGroup": "Network security group",
    "azure-native:network:SecurityRule": "Security rule",
    "azure-native:network:PrivateEndpoint": "Private endpoint",
    "azure-native:network:PrivateDnsZoneGroup": "Private DNS zone group",
    "azure-native:network:FlowLog": "Flow log",
    "azure-native:privatedns:PrivateZone": "Private DNS zone",
    "azure-native:privatedns:VirtualNetworkLink": "Virtual network link",
    "azure-native:authorization:RoleAssignment": "Role assignment",
    "azure-native:managedidentity:UserAssignedIdentity": "Managed identity",
    "azure-native:managedidentity:FederatedIdentityCredential": "Federated credential",
    "azure-native:monitor:DiagnosticSetting": "Diagnostic setting",
    "azure-native:machinelearningservices:Workspace": "ML workspace",
    "azure-native:machinelearningservices:Compute": "ML compute",
    "azure-native:cognitiveservices:Account": "Azure AI services account",
    "azure-native:resources:ResourceGroup": "Resource group",
    "azure-native:containerregistry:Registry": "Container registry",
}


def label(token: str) -> str:
    """A readable name for a resource type, for messages: ``Storage account``."""
    canonical = canonical_type(token)
    return _LABELS.get(canonical, canonical.rsplit(":", 1)[-1])


# -- property access ---------------------------------------------------------------------------

def _split(path: str | Sequence[str]) -> Sequence[str]:
    return path.split(".") if isinstance(path, str) else path


def _child(container: Any, key: str) -> Any:
    """The value under ``key`` (a list index when all digits), or None when absent.

    Raises UnknownValueError when the value is unknown.
    """
    if isinstance(container, Mapping):
        try:
            return container[key]
        except KeyError:
            return None
    if isinstance(container, Sequence) and not isinstance(container, str) and key.isdigit():
        index = int(key)
        return container[index] if index < len(container) else None
    return None


def get(props: Any, path: str | Sequence[str], default: Any = None) -> Any:
    """The value at a dotted path, ``default`` when absent or null.

    Reading an unknown value raises pulumi-policy's ``UnknownValueError``, which the SDK reports as
    "can't run policy during preview": use this for literal fields a decision needs.
    """
    value = props
    for key in _split(path):
        value = _child(value, key)
        if value is None:
            return default
    return value


def peek(props: Any, path: str | Sequence[str], default: Any = None) -> Any:
    """Like :func:`get`, but returns :data:`UNKNOWN` instead of raising when a value is unknown."""
    try:
        return get(props, path, default)
    except UnknownValueError:
        return UNKNOWN


def present(props: Any, path: str | Sequence[str]) -> bool:
    """Whether the value at ``path`` is set (an unknown value counts as set); never reads it blindly."""
    value = peek(props, path)
    if value is UNKNOWN:
        return True
    if value is None or value == "":
        return False
    if isinstance(value, (Sequence, Mapping)) and not isinstance(value, str):
        return len(value) > 0
    return True


def items(seq: Any) -> list[Any]:
    """The elements of a list value, each element :data:`UNKNOWN` if it is unknown; [] if not a list."""
    if seq is None or seq is UNKNOWN or isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        return []
    result = []
    for i in range(len(seq)):
        try:
            result.append(seq[i])
        except UnknownValueError:
            result.append(UNKNOWN)
    return result


def as_list(value: Any) -> list[Any]:
    """A list value as a list (strings and scalars are one element; None is empty)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return items(value)


# -- comparison and formatting -----------------------------------------------------------------

def eq(value: Any, expected: Any) -> bool:
    """Equality, ignoring case for strings (Azure enums are case-insensitive)."""
    if isinstance(value, str) and isinstance(expected, str):
        return value.casefold() == expected.casefold()
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected


def one_of(value: Any, options: Iterable[Any]) -> bool:
    return any(eq(value, option) for option in options)


def fmt(value: Any) -> str:
    """A value as messages show it: ``'Enabled'``, ``true``, ``14``, ``not set``."""
    if value is None:
        return "not set"
    if value is UNKNOWN:
        return "unknown until deployment"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, Sequence):
        return "[" + ", ".join(fmt(v) for v in items(value)) + "]"
    return str(value)


def last_segment(arm_id: str) -> str:
    """The last path segment of an ARM id, lower-cased (role definition GUIDs)."""
    return arm_id.rstrip("/").rsplit("/", 1)[-1].lower()


def number(value: Any) -> float | None:
    """A numeric value, or None when it is absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def require(args: Any, path: str, wanted: Any, problem: str, *, absent_ok: bool = False,
            absent_means: str = "") -> Iterator[str]:
    """Yield one message when ``args.props[path]`` is not ``wanted`` (case-insensitive for strings).

    ``absent_ok`` accepts a missing value (where Azure's default is secure and stable);
    ``absent_means`` says what Azure does with a missing value when it is not accepted. The message
    names the resource, the property, its value and the fix.
    """
    value = get(args.props, path)
    if value is None and absent_ok:
        return
    if value is not None and eq(value, wanted):
        return
    if value is None:
        state = f"{path} is not set" + (f", which {absent_means}" if absent_means else "")
    else:
        state = f"{path} is {fmt(value)}"
    yield f"{label(args.resource_type)} '{args.name}' {problem} ({state}); set it to {fmt(wanted)}."


# -- network sources ---------------------------------------------------------------------------

_ANY_SOURCE_TAGS = {"*", "internet", "any"}


def is_internet_source(prefix: Any) -> bool:
    """Whether an NSG source prefix means "anywhere": ``*``, ``Internet``, ``Any``, ``0.0.0.0``, ``x/0``."""
    if not isinstance(prefix, str):
        return False
    text = prefix.strip().casefold()
    if text in _ANY_SOURCE_TAGS or text in ("0.0.0.0", "::"):
        return True
    if "/" in text:
        try:
            return ipaddress.ip_network(text, strict=False).prefixlen == 0
        except ValueError:
            return False
    return False
