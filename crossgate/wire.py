"""The Pulumi engine's wire encoding of property values, and how crossgate prints them.

On the wire (protobuf ``Struct``), an unknown value is a sentinel string and a secret is an object
carrying a signature key. Policies receive these untouched. Anything crossgate *prints* goes through
:func:`redact`, which turns them into one documented encoding and never reveals a secret's value:

* unknown: ``{"$unknown": true}``
* secret:  ``{"$secret": true}`` (whether or not the value inside is known)
"""

from __future__ import annotations

import re
from typing import Any, Iterator

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


#: Secret strings at least this long are scrubbed wherever they appear, even inside other text.
#: Shorter ones (and secret numbers and booleans) would garble every message that way: they are
#: scrubbed where they fill a whole field, and as whole words in what is said about the resource
#: that holds them.
MIN_SCRUB_LENGTH = 3
SCRUBBED = "[secret]"

_WORD_EDGE_BEFORE = r"(?<![A-Za-z0-9_])"
_WORD_EDGE_AFTER = r"(?![A-Za-z0-9_])"
_NUMBER_EDGE_BEFORE = r"(?<![A-Za-z0-9_.])"
_NUMBER_EDGE_AFTER = r"(?![A-Za-z0-9_]|\.[0-9])"
_BOOLEAN_WORDS = _WORD_EDGE_BEFORE + r"(?:true|false|True|False)" + _WORD_EDGE_AFTER


def blind(value: Any) -> Any:
    """A wire value with every secret's value replaced by an unknown secret (still a secret)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG or (sig == OUTPUT_VALUE_SIG and value.get("secret")):
            return make_secret(UNKNOWN)
        return {k: blind(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blind(v) for v in value]
    return value


def _secret_leaves(value: Any, inside: bool = False) -> Iterator[Any]:
    """Every scalar inside a secret wrapper, anywhere in a wire value (unknowns excluded)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        inner = inside or sig == SECRET_SIG or (sig == OUTPUT_VALUE_SIG and bool(value.get("secret")))
        for k, v in value.items():
            if k == SIG_KEY or (k == "secret" and sig == OUTPUT_VALUE_SIG):
                continue
            if inner and sig is None:
                yield k  # a map key inside a secret is as secret as its value
            yield from _secret_leaves(v, inner)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_leaves(v, inside)
    elif inside and value is not None and value != UNKNOWN and value not in (SECRET_SIG, OUTPUT_VALUE_SIG):
        yield value


def secret_strings(value: Any) -> set[str]:
    """Every string inside a secret wrapper, anywhere in a wire value."""
    return {v for v in _secret_leaves(value) if isinstance(v, str)}


def _number_forms(value: float | int) -> set[str]:
    forms = {repr(value)}
    if isinstance(value, float) and value.is_integer():
        forms.add(str(int(value)))
    return forms


class Secrets:
    """What must never be printed, tracked by value and by position.

    *By value*: a secret string of :data:`MIN_SCRUB_LENGTH` or more characters is replaced wherever
    it appears (a program may copy a decrypted value into a name, a key or another input). A
    shorter one is replaced where it is a whole field (a name, a key, a value).

    *By position*: every value inside a secret wrapper of a resource's inputs (strings of any
    length, numbers, booleans, map keys) is also replaced, as a whole word, in the text said about
    that resource (its findings and remediations), and in text that may be about any resource
    (stack-level findings, errors, logs), so a policy message that prints a secret number or
    boolean never shows it.
    """

    def __init__(self) -> None:
        self._long: set[str] = set()
        self._short: set[str] = set()
        self._by_urn: dict[str, set[tuple[str, Any]]] = {}
        self._patterns: dict[Any, "re.Pattern[str] | None"] = {}

    def __bool__(self) -> bool:
        return bool(self._long or self._short or self._by_urn)

    def add_value(self, value: str) -> None:
        """A secret known by value (a decrypted config value)."""
        if not isinstance(value, str) or not value or value == UNKNOWN:
            return
        (self._long if len(value) >= MIN_SCRUB_LENGTH else self._short).add(value)
        self._patterns.clear()

    def add_resource(self, urn: str, inputs: Any) -> None:
        """Every secret inside a resource's wire-format inputs."""
        leaves = set()
        for leaf in _secret_leaves(inputs):
            if isinstance(leaf, str):
                self.add_value(leaf)
            if isinstance(leaf, bool):
                leaves.add(("bool", leaf))
            elif isinstance(leaf, (int, float)):
                leaves.add(("number", leaf))
            elif isinstance(leaf, str) and leaf:
                leaves.add(("string", leaf))
        if leaves:
            self._by_urn.setdefault(urn, set()).update(leaves)
            self._patterns.clear()

    def has_any(self, raw: bytes) -> bool:
        """Whether serialised inputs may hold a secret value (cheap pre-check before decoding)."""
        return any(s.encode() in raw for s in self._long | self._short)

    # -- scrubbing ----------------------------------------------------------------------------

    def _pattern(self, scope: Any) -> "re.Pattern[str] | None":
        """One regex for a scope: None (by value only), a URN, or ALL_RESOURCES."""
        if scope in self._patterns:
            return self._patterns[scope]
        parts = [re.escape(s) for s in sorted(self._long, key=len, reverse=True)]
        if scope is ALL_RESOURCES:
            leaves = set().union(*self._by_urn.values()) if self._by_urn else set()
        else:
            leaves = self._by_urn.get(scope, set()) if scope is not None else set()
        words, numbers, booleans = set(), set(), False
        for kind, leaf in leaves:
            if kind == "bool":
                booleans = True
            elif kind == "number":
                numbers |= _number_forms(leaf)
            elif len(leaf) < MIN_SCRUB_LENGTH:
                words.add(leaf)
        for word in sorted(words, key=len, reverse=True):
            parts.append(_WORD_EDGE_BEFORE + re.escape(word) + _WORD_EDGE_AFTER)
        for number in sorted(numbers, key=len, reverse=True):
            parts.append(_NUMBER_EDGE_BEFORE + re.escape(number) + _NUMBER_EDGE_AFTER)
        if booleans:
            parts.append(_BOOLEAN_WORDS)
        pattern = re.compile("|".join(parts)) if parts else None
        self._patterns[scope] = pattern
        return pattern

    def text(self, text: str, scope: Any = None) -> str:
        """``text`` with every secret it may hold replaced by :data:`SCRUBBED`, in one pass (so a
        marker is never scrubbed again)."""
        if not text:
            return text
        if text in self._short:
            return SCRUBBED
        pattern = self._pattern(scope)
        return pattern.sub(SCRUBBED, text) if pattern is not None else text

    def value(self, value: Any, scope: Any = None) -> Any:
        """Scrub the strings and map keys of a (wire or redacted) value."""
        if isinstance(value, str):
            return self.text(value, scope)
        if isinstance(value, dict):
            return {(k if k == SIG_KEY else self.text(k, scope)): self.value(v, scope) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, scope) for v in value]
        return value


class _AllResources:
    def __repr__(self) -> str:
        return "ALL_RESOURCES"


#: The scope of text that may speak about any resource (stack-level findings, errors, logs).
ALL_RESOURCES: Any = _AllResources()


def scrub_value(value: Any, secrets: "set[str] | frozenset[str]") -> Any:
    """Scrub known secret strings out of the strings and keys of an already-redacted value.

    The engine's result is already scrubbed (see :class:`Secrets`); this serves callers that hold a
    value and a set of secret strings only."""
    if not secrets:
        return value
    known = Secrets()
    for secret in secrets:
        known.add_value(secret)
    return known.value(value)
