"""A read-only view of the stack for stack policies: resources by type, and relations between them.

Relations are resolved through ``PolicyResource.property_dependencies`` (input property -> the
resources its value came from), never by comparing ARM ids: during a preview those ids are unknown,
while the dependencies are always recorded. A policy that cannot decide because a value is unknown
and no dependency explains it calls :meth:`StackView.unresolved`; after every decidable violation
has been reported the policy then ends the way pulumi-policy ends on any unknown value ("can't run
policy ... during preview"), which crossgate reports as indeterminate.

Every lookup is answered from a :class:`StackIndex` built in one pass over the resources, so a stack
policy costs O(resources + dependencies) however many accounts, endpoints or zones the stack has.
The index is built once per AnalyzeStack request and shared by all its stack policies (see
:meth:`StackView.for_request`); each policy gets its own view, so what one policy records as
unresolved never reaches another.

The index holds, after each generic resource or template deployment, the virtual resources it
creates (:class:`VirtualResource`, see ``_opaque``): they have the azure-native type and props a
declared resource would have, the opaque resource's URN, and it as their parent, so every stack
policy sees them without code of its own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pulumi.runtime import proto
from pulumi_policy import PolicyResource

from ._opaque import Virtual, expand, is_opaque
from ._props import UnknownValueError, canonical_type, get, peek

#: The engine's wire encoding of an unknown string.
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: Types that are never the target of a relation: the engine's own resources.
_PULUMI_PACKAGE = "pulumi:"


@functools.lru_cache(maxsize=512)
def canonical_types(types: tuple[str, ...]) -> frozenset[str]:
    """The canonical form of each of ``types`` (memoised: the same few tuples are asked for per resource)."""
    return frozenset(canonical_type(t) for t in types)


class VirtualResource(PolicyResource):
    """A resource a generic resource or a template creates, attributed to that resource's URN."""

    def __init__(self, opaque: PolicyResource, item: Virtual) -> None:
        deps = opaque.property_dependencies
        super().__init__(
            resource_type=item.token, props=item.props, urn=opaque.urn, name=item.name, opts=opaque.opts,
            provider=opaque.provider, parent=opaque, dependencies=list(opaque.dependencies),
            property_dependencies={key: list(deps.get(source, ())) for key, source in item.sources.items()},
        )
        #: Which resource of the opaque one this is, as messages name it.
        self.origin = item.origin
        #: Every canonical type it has (an ARM type can have more than one azure-native token).
        self.types = frozenset(item.tokens)


def types_of(resource: PolicyResource) -> frozenset[str]:
    """The canonical types of a resource: one, or every token of a virtual resource's ARM type."""
    if isinstance(resource, VirtualResource):
        return resource.types
    return frozenset((canonical_type(resource.resource_type),))


def with_virtual_resources(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    """``resources``, each generic resource or deployment followed by the resources it creates."""
    result: list[PolicyResource] = []
    for r in resources:
        result.append(r)
        if is_opaque(r.resource_type):
            result += [VirtualResource(r, item) for item in expand(r.resource_type, r.name, r.props)
                       if isinstance(item, Virtual)]
    return result


class StackIndex:
    """Everything a stack policy looks up, indexed once per stack; its answers never change.

    Built in one pass over the resources: by canonical type, by URN, each resource's stack position,
    children by parent, and the reverse property-dependency index ("who depends on me, via which
    input"). Literal-value indexes (resources of a type by the case-folded string value of a field)
    are built on first use. Lists are in stack order, as a scan of the resources would give them.
    """

    def __init__(self, resources: Sequence[PolicyResource]) -> None:
        self.resources = with_virtual_resources(resources)
        self.by_type: dict[str, list[PolicyResource]] = {}
        self.by_urn: dict[str, PolicyResource] = {}
        self.position: dict[int, int] = {}
        self._children: dict[int, list[PolicyResource]] = {}
        #: (target URN, input) -> resources whose input was computed from the target, each once.
        self._dependents_via: dict[tuple[str, str], list[PolicyResource]] = {}
        #: target URN -> resources with any input computed from the target, each once.
        self._dependents_any: dict[str, list[PolicyResource]] = {}
        self._literals: dict[tuple[str, str], dict[str, list[PolicyResource]]] = {}
        self._lock = threading.Lock()
        via, any_ = self._dependents_via, self._dependents_any
        for i, r in enumerate(self.resources):
            self.position[id(r)] = i
            self.by_urn.setdefault(r.urn, r)
            for type_ in types_of(r):
                self.by_type.setdefault(type_, []).append(r)
            if r.parent is not None:
                self._children.setdefault(id(r.parent), []).append(r)
            for prop, deps in r.property_dependencies.items():
                for dep in deps:
                    # A resource's entries are added together, so "not the last one" is "not yet there".
                    listed = via.setdefault((dep.urn, prop), [])
                    if not listed or listed[-1] is not r:
                        listed.append(r)
                    listed = any_.setdefault(dep.urn, [])
                    if not listed or listed[-1] is not r:
                        listed.append(r)

    def of_type(self, wanted: frozenset[str]) -> list[PolicyResource]:
        lists = [self.by_type[t] for t in wanted if t in self.by_type]
        if len(lists) == 1:
            return list(lists[0])
        return self.in_stack_order(r for listed in lists for r in listed)

    def dependents(self, urn: str, prop: str | None) -> list[PolicyResource]:
        if prop is None:
            return self._dependents_any.get(urn, [])
        return self._dependents_via.get((urn, prop), [])

    def children(self, parent: PolicyResource) -> list[PolicyResource]:
        return self._children.get(id(parent), [])

    def with_literal(self, type_: str, path: str, value: str) -> list[PolicyResource]:
        """Resources of canonical ``type_`` whose ``path`` is a string equal to ``value`` ignoring case."""
        key = (type_, path)
        index = self._literals.get(key)
        if index is None:
            with self._lock:
                index = self._literals.get(key)
                if index is None:
                    index = {}
                    for r in self.by_type.get(type_, ()):
                        found = peek(r.props, path)
                        if isinstance(found, str):
                            index.setdefault(found.casefold(), []).append(r)
                    self._literals[key] = index
        return index.get(value.casefold(), [])

    def in_stack_order(self, resources: Iterable[PolicyResource]) -> list[PolicyResource]:
        """``resources`` without repeats, in stack order."""
        unique = {id(r): r for r in resources}
        position = self.position
        return sorted(unique.values(), key=lambda r: position.get(id(r), len(position)))


class _LastIndex:
    """The index of the stack being analysed, shared by every stack policy of one AnalyzeStack request.

    pulumi-policy rebuilds the resource list for each policy, so the request is recognised by its
    response object (which each policy's ``report_violation`` writes to) and confirmed by the URNs.
    Only the last request's index is kept: a new request, or a call that can't be tied to one,
    never sees another's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[object, tuple[str, ...], StackIndex] | None = None

    def get(self, resources: Sequence[PolicyResource], request: object | None) -> StackIndex:
        if request is None:
            return StackIndex(resources)
        urns = tuple(r.urn for r in resources)
        with self._lock:
            entry = self._entry
            if entry is not None and entry[0] is request and entry[1] == urns:
                return entry[2]
            index = StackIndex(resources)
            self._entry = (request, urns, index)
            return index

    def clear(self) -> None:
        with self._lock:
            self._entry = None


_LAST = _LastIndex()


def request_of(report_violation: Callable[..., Any]) -> object | None:
    """The AnalyzeResponse pulumi-policy's ``report_violation`` writes to (one per request), if it is one."""
    for cell in getattr(report_violation, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, proto.AnalyzeResponse):
            return value
    return None


class StackView:
    """One stack policy's view of the stack: the shared :class:`StackIndex` plus its own unresolved values."""

    def __init__(self, resources: Sequence[PolicyResource], index: StackIndex | None = None) -> None:
        self._index = index if index is not None else StackIndex(resources)
        self.resources = self._index.resources
        self._unresolved: list[tuple[PolicyResource, str]] = []

    @classmethod
    def for_request(cls, resources: Sequence[PolicyResource], report_violation: Callable[..., Any]) -> "StackView":
        """A view whose index is built once per AnalyzeStack request and shared by its stack policies."""
        return cls(resources, _LAST.get(resources, request_of(report_violation)))

    # -- lookups ---------------------------------------------------------------------------

    def of_type(self, *types: str) -> list[PolicyResource]:
        """Resources of the given canonical types, in stack order."""
        return self._index.of_type(canonical_types(types))

    def resource(self, urn: str) -> PolicyResource | None:
        """The resource with this URN, if it is in the stack."""
        return self._index.by_urn.get(urn)

    def deps(self, resource: PolicyResource, prop: str, *types: str) -> list[PolicyResource]:
        """The resources ``resource.<prop>`` was computed from (optionally only of ``types``).

        The engine's own resources (stack, providers, stack references) are left out.
        """
        wanted = canonical_types(types) if types else None
        result: list[PolicyResource] = []
        for dep in resource.property_dependencies.get(prop, ()):
            if dep.resource_type.startswith(_PULUMI_PACKAGE):
                continue
            if wanted is not None and wanted.isdisjoint(types_of(dep)):
                continue
            if dep not in result:
                result.append(dep)
        return result

    def dependents(self, target: PolicyResource, prop: str | None = None, *types: str) -> list[PolicyResource]:
        """Resources with an input (``prop``, or any) computed from ``target`` (optionally of ``types``)."""
        found = self._index.dependents(target.urn, prop)
        if not types:
            return list(found)
        wanted = canonical_types(types)
        return [r for r in found if not wanted.isdisjoint(types_of(r))]

    def children(self, parent: PolicyResource, *types: str) -> list[PolicyResource]:
        """Resources whose parent is ``parent`` (optionally only of ``types``), in stack order."""
        found = self._index.children(parent)
        if not types:
            return list(found)
        wanted = canonical_types(types)
        return [r for r in found if not wanted.isdisjoint(types_of(r))]

    def with_literal(self, type_: str, path: str, value: str) -> list[PolicyResource]:
        """Resources of ``type_`` whose ``path`` is the literal string ``value`` (ignoring case), in stack order.

        The same as ``[r for r in self.of_type(type_) if eq(self.peek(r, path), value)]``, from an index.
        """
        return list(self._index.with_literal(canonical_type(type_), path, value))

    def in_stack_order(self, resources: Iterable[PolicyResource]) -> list[PolicyResource]:
        """``resources`` without repeats, in stack order."""
        return self._index.in_stack_order(resources)

    @staticmethod
    def extend_unique(base: list[PolicyResource], more: Iterable[PolicyResource]) -> list[PolicyResource]:
        """``base`` with each of ``more`` not already in it appended, in order (``base`` is extended)."""
        seen = {id(r) for r in base}
        for r in more:
            if id(r) not in seen:
                seen.add(id(r))
                base.append(r)
        return base

    @staticmethod
    def is_type(resource: PolicyResource, *types: str) -> bool:
        return not canonical_types(types).isdisjoint(types_of(resource))

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
                exc.message = f"{exc.message} ({self._which(resource)})"
                raise
        if self._unresolved:  # every recorded path is unknown, so this is not expected to be reached
            resource, path = self._unresolved[0]
            exc = UnknownValueError(UNKNOWN_STRING, path.split("."))
            exc.message = f"{exc.message} ({self._which(resource)})"
            raise exc

    @staticmethod
    def _which(resource: PolicyResource) -> str:
        return resource.origin if isinstance(resource, VirtualResource) else f"resource '{resource.name}'"

    def names(self, resources: Iterable[PolicyResource]) -> str:
        return ", ".join(f"'{r.name}'" for r in resources)
