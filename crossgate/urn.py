"""Pulumi URNs: the one place crossgate takes them apart or builds them.

``urn:pulumi:<stack>::<project>::<qualified type>::<name>``, where the qualified type is the parent
chain's types joined by ``$`` (the root stack's type is never part of it) and the name may itself
contain ``::``. A provider reference is a provider's URN followed by ``::<id>``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

PREFIX = "urn:pulumi:"
SEP = "::"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"

_VALID = re.compile(r"^urn:pulumi:[^:]+::[^:]+::.+::.+$")


class Urn(NamedTuple):
    stack: str
    project: str
    qualified_type: str
    name: str

    @property
    def type(self) -> str:
        """The resource's own type: the last element of the qualified type."""
        return self.qualified_type.split("$")[-1]


def is_valid(urn: str) -> bool:
    return isinstance(urn, str) and bool(_VALID.match(urn))


def parse(urn: str) -> Urn | None:
    """The parts of a URN, or None when it is not shaped like one."""
    if not urn.startswith(PREFIX):
        return None
    parts = urn[len(PREFIX):].split(SEP)
    if len(parts) < 4:
        return None
    return Urn(parts[0], parts[1], parts[2], SEP.join(parts[3:]))


def split(urn: str) -> tuple[str, str]:
    """(type, name) from a URN; ("", urn) when it is not shaped like one."""
    parsed = parse(urn)
    return (parsed.type, parsed.name) if parsed else ("", urn)


def qualified_type(urn: str) -> str:
    parsed = parse(urn)
    return parsed.qualified_type if parsed else ""


def make(stack: str, project: str, type_: str, name: str, parent: str | None = None) -> str:
    """A resource's URN as the engine builds it: a parent's qualified type is prefixed, except the
    root stack's."""
    parent_type = qualified_type(parent) if parent else ""
    if parent_type and parent_type != ROOT_STACK_TYPE:
        type_ = f"{parent_type}${type_}"
    return f"{PREFIX}{stack}{SEP}{project}{SEP}{type_}{SEP}{name}"


def root(stack: str, project: str) -> str:
    """The root stack resource's URN, ``...::pulumi:pulumi:Stack::<project>-<stack>``."""
    return make(stack, project, ROOT_STACK_TYPE, f"{project}-{stack}")


def provider_urn(reference: str) -> str:
    """The provider's URN from a provider reference (``<urn>::<id>``)."""
    return reference.rsplit(SEP, 1)[0]
