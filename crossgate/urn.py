"""Pulumi URNs: the one place crossgate takes them apart or builds them.

``urn:pulumi:<stack>::<project>::<qualified type>::<name>``, where the qualified type is the parent
chain's types joined by ``$`` (the root stack's type is never part of it) and the name may itself
contain ``::``. A provider reference is a provider's URN followed by ``::<id>``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, NamedTuple

PREFIX = "urn:pulumi:"
SEP = "::"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
#: Resources a program reads rather than registers (the only read crossgate answers offline).
READ_TYPES = frozenset({"pulumi:pulumi:StackReference"})

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


def graph_problem(resources: Iterable[Any], *, project: str, stack: str, root_urn: str, finished: bool,
                  owner: str = "the plan") -> str | None:
    """The first reason a list of planned resources doesn't hang together, or None.

    Each resource (anything with ``urn``, ``type``, ``name``, ``parent``, ``provider``,
    ``dependencies`` and ``property_dependencies``) must have a URN of ``stack`` and ``project``
    that agrees with its type and name, appear once, and name only resources of the list as its
    parent, provider (a provider resource) and dependencies; a finished program declares exactly one
    root stack, ``root_urn``. Problems start with ``resources/<index>``; ``owner`` names the list
    ("the plan")."""
    resources = list(resources)
    seen: set[str] = set()
    for i, r in enumerate(resources):
        parsed = parse(r.urn) if isinstance(r.urn, str) else None
        if parsed is None or not (parsed.stack and parsed.project and parsed.qualified_type):
            return f"resources/{i}: {r.urn!r} is not a URN"
        if (parsed.stack, parsed.project) != (stack, project):
            return f"resources/{i}: {r.urn} is not in stack {stack} of project {project}"
        if (parsed.type, parsed.name) != (r.type, r.name):
            return f"resources/{i}: type {r.type!r} and name {r.name!r} don't match its URN {r.urn}"
        if r.urn in seen:
            return f"resources/{i}: duplicate URN {r.urn}"
        seen.add(r.urn)
    for i, r in enumerate(resources):
        refs = [("parent", r.parent), ("provider", provider_urn(r.provider) if r.provider else None)]
        # A stack reference is read, not registered: a dependency on it names no planned resource.
        refs += [("dependencies", d) for d in r.dependencies if split(d)[0] not in READ_TYPES]
        refs += [(f"propertyDependencies/{k}", d) for k, deps in r.property_dependencies.items() for d in deps
                 if split(d)[0] not in READ_TYPES]
        for what, urn in refs:
            if urn and urn not in seen:
                return f"resources/{i} ({r.urn}): {what} names {urn}, which {owner} does not declare"
        if r.provider and not split(provider_urn(r.provider))[0].startswith("pulumi:providers:"):
            return f"resources/{i} ({r.urn}): provider {r.provider} is not a provider resource"
    if root_urn and root_urn not in seen:
        return f"rootUrn {root_urn} is not one of its resources"
    if finished and [r.urn for r in resources if r.type == ROOT_STACK_TYPE] != [root_urn]:
        return f"a finished program declares exactly one {ROOT_STACK_TYPE}, and rootUrn names it"
    return None
