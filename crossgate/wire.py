"""The Pulumi engine's wire encoding of property values, and how crossgate prints them.

On the wire (protobuf ``Struct``), an unknown value is a sentinel string and a secret is an object
carrying a signature key. Policies receive these untouched. Anything crossgate *prints* goes through
:func:`redact`, which turns them into one documented encoding and never reveals a secret's value:

* unknown: ``{"$unknown": true}``
* secret:  ``{"$secret": true}`` (whether or not the value inside is known)
"""

from __future__ import annotations

from typing import Any

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

UNKNOWN_MARK: dict[str, Any] = {"$unknown": True}
SECRET_MARK: dict[str, Any] = {"$secret": True}


def is_unknown(value: Any) -> bool:
    return value == UNKNOWN


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def make_secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def redact(value: Any) -> Any:
    """Return a JSON-safe copy of a wire value with unknowns and secrets replaced by markers."""
    if isinstance(value, str):
        return dict(UNKNOWN_MARK) if value == UNKNOWN else value
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return dict(SECRET_MARK)
        if sig == OUTPUT_VALUE_SIG:
            if value.get("secret"):
                return dict(SECRET_MARK)
            return redact(value["value"]) if "value" in value else dict(UNKNOWN_MARK)
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def contains_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def redact_like(value: Any, reference: Any) -> Any:
    """Redact ``value``, also hiding whatever was secret at the same path in ``reference``.

    A remediation returns properties that lost their secret wrappers; the original inputs say
    which of them must stay hidden.
    """
    if is_secret(reference) or (isinstance(reference, dict) and reference.get(SIG_KEY) == OUTPUT_VALUE_SIG
                                and reference.get("secret")):
        return dict(SECRET_MARK)
    if isinstance(value, dict) and isinstance(reference, dict) and SIG_KEY not in value:
        return {k: redact_like(v, reference.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(reference, list):
        return [redact_like(v, reference[i] if i < len(reference) else None) for i, v in enumerate(value)]
    return redact(value)


#: Secrets shorter than this are not scrubbed from free text (it would garble every message).
MIN_SCRUB_LENGTH = 3
SCRUBBED = "[secret]"


def secret_strings(value: Any, inside: bool = False) -> set[str]:
    """Every string inside a secret wrapper, anywhere in a wire value."""
    found: set[str] = set()
    if isinstance(value, str):
        if inside and value != UNKNOWN and len(value) >= MIN_SCRUB_LENGTH:
            found.add(value)
    elif isinstance(value, dict):
        inner = inside or value.get(SIG_KEY) == SECRET_SIG
        for v in value.values():
            found |= secret_strings(v, inner)
    elif isinstance(value, list):
        for v in value:
            found |= secret_strings(v, inside)
    return found


def scrub(text: str, secrets: "set[str] | frozenset[str]") -> str:
    """Replace every known secret value in free text (messages, logs, errors)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, SCRUBBED)
    return text


def scrub_value(value: Any, secrets: "set[str] | frozenset[str]") -> Any:
    """Scrub secrets out of the strings of an already-redacted value."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    return value
