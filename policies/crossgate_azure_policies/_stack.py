"""A read-only view of the stack for stack policies: resources by type, and relations between them.

Relations are resolved through ``PolicyResource.property_dependencies`` (input property -> the
resources its value came from), never by comparing ARM ids: during a preview those ids are unknown,
while the dependencies are always recorded. A policy that cannot decide because a value is unknown
and no dependency explains it calls :meth:`StackView.unresolved`; after every decidable violation
has been reported the policy then ends the way pulumi-policy ends on any unknown value ("can't run
policy ... during preview"), which crossgate reports as indeterminate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from ._props import UnknownValueError, canonical_type, get, peek

#: The engine's wire encoding of an unknown string.
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: Types that are never the target of a relation: the engine's own resources.
_PULUMI_PACKAGE = "pulumi:"


class StackView:
    def __init__(self, resources: Sequence[PolicyResource]) -> None:
        self.resources = list(resources)
        self._by_type: dict[str, list[PolicyResource]] = {}
        self._dependents: dict[str, list[tuple[PolicyResource, str]]] = {}
        self._unresolved: list[tuple[PolicyResource, str]] = []
        for r in self.resources:
            self._by_type.setdefault(canonical_type(r.resource_type), []).append(r)
            for prop, deps in r.property_dependencies.items():
                for dep in deps:
                    self._dependents.setdefault(dep.urn, []).append((r, prop))

    # -- lookups ---------------------------------------------------------------------------

    def of_type(self, *types: str) -> list[PolicyResource]:
        """Resources of the given canonical types, in stack order."""
        wanted = {canonical_type(t) for t in types}
        return [r for r in self.resources if canonical_type(r.resource_type) in wanted]

    def deps(self, resource: PolicyResource, prop: str, *types: str) -> list[PolicyResource]:
        """The resources ``resource.<prop>`` was computed from (optionally only of ``types``).

        The engine's own resources (stack, providers, stack references) are left out.
        """
        wanted = {canonical_type(t) for t in types}
        result = []
        for dep in resource.property_dependencies.get(prop, []):
            if dep.resource_type.startswith(_PULUMI_PACKAGE):
                continue
            if wanted and canonical_type(dep.resource_type) not in wanted:
                continue
            if dep not in result:
                result.append(dep)
        return result

    def dependents(self, target: PolicyResource, prop: str | None = None, *types: str) -> list[PolicyResource]:
        """Resources with an input (``prop``, or any) computed from ``target`` (optionally of ``types``)."""
        wanted = {canonical_type(t) for t in types}
        result = []
        for r, p in self._dependents.get(target.urn, []):
            if prop is not None and p != prop:
                continue
            if wanted and canonical_type(r.resource_type) not in wanted:
                continue
            if r not in result:
                result.append(r)
        return result

    @staticmethod
    def is_type(resource: PolicyResource, *types: str) -> bool:
        return canonical_type(resource.resource_type) in {canonical_type(t) for t in types}

    @staticmethod
    def peek(resource: PolicyResource, path: str, default: Any = None) -> Any:
        return peek(resource.props, path, default)

    def each(self, resources: Iterable[PolicyResource], check: Callable[[PolicyResource], Iterable[str]]
             ) -> Iterator[tuple[PolicyResource, str]]:
        """Run a per-resource check that reads literal fields; a resource whose field is unknown is unresolved."""
        for resource in resources:
            try:
                messages = list(check(resource))
            except UnknownValueError as exc:
                self.unresolved(resource, ".".join(exc.props))
                continue
            for message in messages:
                yield resource, message

    # -- undecidable ------------------------------------------------------------------------

    def unresolved(self, resource: PolicyResource, path: str) -> None:
        """Record that ``resource.<path>`` is unknown and no dependency tells what it refers to."""
        self._unresolved.append((resource, path))

    def raise_unresolved(self) -> None:
        """Re-read the first unresolved value so pulumi-policy reports the policy as unable to run."""
        for resource, path in self._unresolved:
            try:
                get(resource.props, path)
            except UnknownValueError as exc:
                exc.message = f"{exc.message} (resource '{resource.name}')"
                raise
        if self._unresolved:  # every recorded path is unknown, so this is not expected to be reached
            resource, path = self._unresolved[0]
            exc = UnknownValueError(UNKNOWN_STRING, path.split("."))
            exc.message = f"{exc.message} (resource '{resource.name}')"
            raise exc

    def names(self, resources: Iterable[PolicyResource]) -> str:
        return ", ".join(f"'{r.name}'" for r in resources)
