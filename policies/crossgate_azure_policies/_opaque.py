"""Resources that create other Azure resources: what a generic resource or a template deploys.

``azure-native:resources:Resource`` (a namespace, a type and free-form ``properties``) and ARM
template deployments (``resources:Deployment`` at every scope, and deployment stacks) can create any
Azure resource. :func:`expand` turns one of them into the *virtual* resources it creates, each with
the azure-native type token and the properties azure-native would have given it (see
:class:`~crossgate_azure_policies._types.ArmType`), so the same policies judge them.

What can't be evaluated offline stays unknown: a template expression (``[concat(...)]``), a
parameter without a literal value (or a secure one), a Key Vault reference, a Pulumi output unknown
until deployment. Reading such a value raises pulumi-policy's ``UnknownValueError``, exactly as
reading an unknown input does, so a policy that needs it can't run ("indeterminate"). Where even
the resources are unknown (a ``templateLink``, a template or a resource type unknown until
deployment), :func:`expand` yields an :class:`Unseen` instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import (UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE,
                                 UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE,
                                 UNKNOWN_STRING_VALUE, UnknownValueError)

from ._types import ArmType, arm_type, canonical_type, is_extension_form

__all__ = ["GENERIC", "AZAPI_RESOURCE", "DEPLOYMENTS", "OPAQUE_TYPES", "azapi_arm_type", "Virtual", "Unseen", "expand",
           "is_opaque"]

GENERIC = "azure-native:resources:Resource"
#: Each deployment type, and the input holding its template (None: the top level, as deployment stacks have it).
DEPLOYMENTS: Mapping[str, str | None] = {
    "azure-native:resources:Deployment": "properties",
    "azure-native:resources:DeploymentAtScope": "properties",
    "azure-native:resources:DeploymentAtSubscriptionScope": "properties",
    "azure-native:resources:DeploymentAtManagementGroupScope": "properties",
    "azure-native:resources:DeploymentAtTenantScope": "properties",
    "azure-native:resources:DeploymentStackAtResourceGroup": None,
    "azure-native:resources:DeploymentStackAtSubscription": None,
    "azure-native:resources:DeploymentStackAtManagementGroup": None,
}
#: The azapi provider's resource: an ARM type, API version and body, as a generic resource has them.
AZAPI_RESOURCE = "azapi:index/resource:Resource"
OPAQUE_TYPES = frozenset({GENERIC, AZAPI_RESOURCE, *DEPLOYMENTS})
#: ARM types that deploy a template of their own (case-folded): a deployment, and a deployment stack.
_NESTED_DEPLOYMENT = "microsoft.resources/deployments"
_DEPLOYMENT_STACK = "microsoft.resources/deploymentstacks"
#: Top-level fields of an ARM resource body that azure-native keeps at the top level too.
_TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "zones", "plan", "extendedLocation", "managedBy")
_MAX_DEPTH = 8
_UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                       UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})


def is_opaque(token: str) -> bool:
    return canonical_type(token) in OPAQUE_TYPES


# -- values that can't be known offline --------------------------------------------------------

@dataclass(frozen=True)
class Unevaluable:
    """A value that can't be known before deployment, and why (never the value or expression itself)."""

    reason: str


_PULUMI_UNKNOWN = Unevaluable("unknown until deployment")
_EXPRESSION = Unevaluable("set by a template expression")
_EXTENDED = Unevaluable("the id of the resource it extends ('<type>/providers/<extension>')")


def _raise(path: list[str], marker: Unevaluable) -> None:
    exc = UnknownValueError(UNKNOWN_STRING_VALUE, path)
    exc.message = f"{'.'.join(path)} is {marker.reason}, so it can't be known during preview"
    raise exc


def _read(value: Any, path: list[str]) -> Any:
    if isinstance(value, Unevaluable):
        _raise(path, value)
    if isinstance(value, dict):
        return ArmProps(value, path)
    if isinstance(value, list):
        return ArmList(value, path)
    return value


class ArmProps(Mapping):
    """A virtual resource's properties: keys match ignoring case (as ARM does), and reading a value
    that can't be known raises ``UnknownValueError`` like pulumi-policy's own proxy.

    ``missing`` makes every absent key unknown too (the whole ``properties`` object was unknown).
    """

    def __init__(self, data: dict[str, Any], path: list[str] | None = None, missing: Unevaluable | None = None):
        self._data = data
        self._path = path or []
        self._missing = missing
        self._folded = {k.casefold(): k for k in data}

    def __getitem__(self, key: str) -> Any:
        actual = key if key in self._data else self._folded.get(str(key).casefold())
        if actual is None:
            if self._missing is not None:
                _raise([*self._path, str(key)], self._missing)
            raise KeyError(key)
        return _read(self._data[actual], [*self._path, str(key)])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class ArmList(Sequence):
    """A list inside a virtual resource's properties; reading an element that can't be known raises."""

    def __init__(self, data: list[Any], path: list[str]):
        self._data = data
        self._path = path

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._data)))]
        return _read(self._data[index], [*self._path, str(index)])

    def __len__(self) -> int:
        return len(self._data)


# -- reading the opaque resource's own inputs --------------------------------------------------

def _plain(value: Any) -> Any:
    """A Pulumi input value as plain data, each unknown value an :class:`Unevaluable`."""
    if isinstance(value, str):
        return _PULUMI_UNKNOWN if value in _UNKNOWNS else value
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                result[str(key)] = _plain(value[key])
            except UnknownValueError:
                result[str(key)] = _PULUMI_UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        result_list = []
        for i in range(len(value)):
            try:
                result_list.append(_plain(value[i]))
            except UnknownValueError:
                result_list.append(_PULUMI_UNKNOWN)
        return result_list
    return value


def _field(body: Any, key: str) -> Any:
    """``body[key]`` ignoring case, None when absent or ``body`` is not an object."""
    if not isinstance(body, dict):
        return None
    if key in body:
        return body[key]
    folded = key.casefold()
    for k, v in body.items():
        if k.casefold() == folded:
            return v
    return None


# -- what a virtual resource is ----------------------------------------------------------------

@dataclass(frozen=True)
class Virtual:
    """One Azure resource an opaque resource creates, as azure-native would have declared it."""

    #: How messages name it: ``template resource 'Microsoft.Storage/storageAccounts' 'acct1'``.
    origin: str
    #: The canonical azure-native token, then any other token for the same ARM type.
    tokens: tuple[str, ...]
    name: str
    props: ArmProps
    #: For each top-level input, the opaque resource's input its value came from.
    sources: Mapping[str, str]

    @property
    def token(self) -> str:
        return self.tokens[0]


@dataclass(frozen=True)
class Unseen:
    """An opaque resource whose resources can't be known offline, and why."""

    origin: str
    reason: str

    def error(self) -> UnknownValueError:
        exc = UnknownValueError(UNKNOWN_OBJECT_VALUE, [])
        exc.message = f"{self.origin} {self.reason}, so what it creates can't be known during preview"
        return exc


def _flatten(value: Any) -> Any:
    """azure-native's deep flattening: nested objects' ``properties`` lifted into the object."""
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    if not isinstance(value, dict):
        return value
    result = {k: _flatten(v) for k, v in value.items() if k.casefold() != "properties"}
    inner = _field(value, "properties")
    if isinstance(inner, dict):
        result.update({k: _flatten(v) for k, v in inner.items()})
    elif inner is not None:
        result["properties"] = inner
    return result


def _rename(value: Any, renames: Mapping[str, str], prefix: str = "") -> Any:
    if isinstance(value, list):
        return [_rename(v, renames, prefix) for v in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, v in value.items():
        path = f"{prefix}{key.casefold()}"
        result[renames.get(path, key)] = _rename(v, renames, path + ".")
    return result


def _shape(arm: ArmType, body: dict[str, Any], segments: list[Any], own_scope: Unevaluable | None
           ) -> tuple[dict[str, Any], Unevaluable | None]:
    """The azure-native inputs for an ARM body, and the marker for absent keys (unknown ``properties``)."""
    out: dict[str, Any] = {}
    for key in _TOP_LEVEL:
        value = _field(body, key)
        if value is not None:
            out[key] = value
    properties = _field(body, "properties")
    missing = None
    if arm.flatten == "none":
        if properties is not None:
            out["properties"] = properties
    elif isinstance(properties, Unevaluable):
        missing = properties
    elif isinstance(properties, dict):
        flat = _flatten(properties) if arm.flatten == "deep" else properties
        for key, value in flat.items():
            out.setdefault(key, value)
    elif properties is not None:
        missing = Unevaluable("under properties that are not an object")
    if arm.scope:
        scope = _field(body, "scope")
        if scope is not None:
            out[arm.scope] = scope
        elif own_scope is not None:
            out[arm.scope] = own_scope
    if len(segments) == len(arm.names):
        for name_input, segment in zip(arm.names, segments):
            if name_input:
                out[name_input] = segment
    if arm.renames:
        out = _rename(out, arm.renames)
    return out, missing


def _virtual(kind: str, arm: ArmType, full_type: str, name: Any, body: dict[str, Any], sources: Mapping[str, str],
             own_scope: Unevaluable | None) -> Virtual:
    shown = name if isinstance(name, str) else "(a name unknown until deployment)"
    if is_extension_form(full_type):
        # ``<resource>/<extension namespace>/<name>``: the extension's own name is the last segment, and
        # its scope is the resource it extends, an ARM id that can't be built offline.
        name = name.rsplit("/", 1)[-1] if isinstance(name, str) else name
        own_scope = _EXTENDED
    segments: list[Any] = name.split("/") if isinstance(name, str) else [name] * len(arm.names)
    last = segments[-1] if isinstance(segments[-1], str) else shown
    props, missing = _shape(arm, body, segments, own_scope)
    return Virtual(origin=f"{kind} '{full_type}' '{shown}'", tokens=arm.tokens, name=last,
                   props=ArmProps(props, [], missing), sources=sources)


# -- generic resources -------------------------------------------------------------------------

def _generic(name: str, props: Mapping[str, Any]) -> Iterator[Virtual | Unseen]:
    plain = _plain(props)
    namespace, type_, parent = (_field(plain, k) for k in ("resourceProviderNamespace", "resourceType",
                                                             "parentResourcePath"))
    if not all(isinstance(v, str) for v in (namespace, type_)) or not isinstance(parent, (str, type(None))):
        yield Unseen(f"generic resource '{name}'", "has a resource provider namespace or type that is not a literal")
        return
    parent_segments = [s for s in (parent or "").strip("/").split("/") if s]
    types = [namespace.strip("/")] + parent_segments[0::2] + [s for s in type_.strip("/").split("/") if s]
    full_type = "/".join(types)
    if full_type.casefold() in (_NESTED_DEPLOYMENT, _DEPLOYMENT_STACK):
        # A generic resource that is itself a template deployment.
        yield from _template_deployment(f"generic resource '{full_type}' '{name}'", _field(plain, "properties"),
                                        "properties")
        return
    arm = arm_type(full_type)
    if arm is None:
        return
    resource_name = _field(plain, "resourceName")
    if isinstance(resource_name, str):
        full_name: Any = "/".join(parent_segments[1::2] + [resource_name])
    else:
        full_name = resource_name if isinstance(resource_name, Unevaluable) else _PULUMI_UNKNOWN
    body = {k: v for k, v in plain.items() if k in _TOP_LEVEL or k == "properties"}
    sources = {k: k for k in _TOP_LEVEL}
    yield _virtual_with_sources(_virtual("generic resource", arm, full_type, full_name, body, sources,
                                         Unevaluable("the scope the generic resource is deployed at")), "properties")


def _virtual_with_sources(v: Virtual, default: str) -> Virtual:
    sources = {key: v.sources.get(key) or default for key in v.props}
    return Virtual(v.origin, v.tokens, v.name, v.props, sources)


# -- azapi resources ---------------------------------------------------------------------------

_AZAPI_TYPE = re.compile(r"^(?P<type>[A-Za-z0-9]+\.[A-Za-z0-9.]+(?:/[A-Za-z0-9_.\-]+)+)@(?P<version>[0-9A-Za-z\-.]+)$")


def azapi_arm_type(type_and_version: Any) -> str | None:
    """The ARM type of an azapi ``type`` (``Microsoft.Storage/storageAccounts@2023-05-01``), None if unreadable."""
    match = _AZAPI_TYPE.match(type_and_version.strip()) if isinstance(type_and_version, str) else None
    return match.group("type") if match else None


def _id_names(parent_id: str) -> list[str]:
    """The resource names in an ARM id after its last provider namespace (``.../storageAccounts/a/blobServices/default``
    gives ``['a', 'default']``)."""
    segments = [s for s in parent_id.strip("/").split("/") if s]
    folded = [s.casefold() for s in segments]
    if "providers" not in folded:
        return []
    start = len(folded) - 1 - folded[::-1].index("providers") + 2  # past 'providers/<namespace>'
    return segments[start + 1::2]


def _azapi(name: str, props: Mapping[str, Any]) -> Iterator[Virtual | Unseen]:
    """An azapi ``Resource``: ``type`` (ARM type and API version), ``name``, ``parentId`` and the ARM ``body``."""
    plain = _plain(props)
    origin = f"azapi resource '{name}'"
    full_type = azapi_arm_type(_field(plain, "type"))
    if full_type is None:
        return  # unevaluated-resource-provider blocks it: one finding, not one per policy
    arm = arm_type(full_type)
    if arm is None:
        return  # a type no policy reads, as for a generic resource
    body = _field(plain, "body")
    if isinstance(body, str):  # older azapi versions take the body as JSON text
        try:
            body = json.loads(body)
        except ValueError:
            yield Unseen(origin, "has a body that is not JSON")
            return
    if isinstance(body, Unevaluable):
        yield Unseen(origin, "has a body unknown until deployment")
        return
    if body is not None and not isinstance(body, dict):
        yield Unseen(origin, "has a body that is not an object")
        return
    body = {k: v for k, v in (body or {}).items() if k in _TOP_LEVEL or k.casefold() == "properties"}
    for key in ("location", "tags", "identity"):
        if _field(plain, key) is not None and _field(body, key) is None:
            body[key] = _field(plain, key)
    parent_id, resource_name = _field(plain, "parentId"), _field(plain, "name")
    if arm.scope:
        # An extension resource: its parent is its scope.
        body["scope"] = parent_id if parent_id is not None else _PULUMI_UNKNOWN
        full_name: Any = resource_name
    elif isinstance(parent_id, str) and isinstance(resource_name, str):
        full_name = "/".join(_id_names(parent_id) + [resource_name])
    else:
        full_name = resource_name if isinstance(resource_name, str) and not arm.names[:-1] else _PULUMI_UNKNOWN
    sources = {k: ("body" if k not in ("location", "tags", "identity") else k) for k in _TOP_LEVEL}
    yield _virtual_with_sources(_virtual("azapi resource", arm, full_type, full_name, body, sources, None), "body")


# -- templates ---------------------------------------------------------------------------------

_COPY_LOOP = Unevaluable("generated by a property copy loop")


def _is_property_loop(key: str, value: Any) -> bool:
    """Whether ``key: value`` is a property iteration (``"copy": [{"name", "count", "input"}]``)."""
    return key.casefold() == "copy" and isinstance(value, list)


_REFERENCE = re.compile(r"^\[\s*(parameters|variables)\s*\(\s*'([^']*)'\s*\)\s*\]$", re.IGNORECASE)
_SECURE = ("securestring", "secureobject")


class _Scope:
    """The parameters and variables a template's expressions can be resolved against."""

    def __init__(self, template: dict[str, Any], supplied: Any, linked_parameters: bool) -> None:
        self._declared = {k.casefold(): v for k, v in (_field(template, "parameters") or {}).items()} \
            if isinstance(_field(template, "parameters"), dict) else {}
        self._supplied = {k.casefold(): v for k, v in supplied.items()} if isinstance(supplied, dict) else {}
        self._variables = {k.casefold(): v for k, v in (_field(template, "variables") or {}).items()} \
            if isinstance(_field(template, "variables"), dict) else {}
        self._linked = linked_parameters or isinstance(supplied, Unevaluable)
        self._resolving: set[str] = set()

    def parameter(self, name: str) -> Any:
        key = name.casefold()
        declared = self._declared.get(key)
        if isinstance(declared, dict) and str(_field(declared, "type") or "").casefold() in _SECURE:
            return Unevaluable(f"the secure parameter '{name}'")
        if key in self._supplied:
            entry = self._supplied[key]
            if isinstance(entry, dict) and _field(entry, "reference") is not None:
                return Unevaluable(f"the parameter '{name}', a Key Vault reference")
            value = _field(entry, "value") if isinstance(entry, dict) else entry
            return value if value is not None else Unevaluable(f"the parameter '{name}' without a value")
        if self._linked:
            return Unevaluable(f"the parameter '{name}', from a parameters file")
        if isinstance(declared, dict) and _field(declared, "defaultValue") is not None:
            return self.evaluate(_field(declared, "defaultValue"), f"p:{key}")
        return Unevaluable(f"the parameter '{name}' without a literal value")

    def variable(self, name: str) -> Any:
        key = name.casefold()
        if key not in self._variables:
            return Unevaluable(f"the undeclared variable '{name}'")
        return self.evaluate(self._variables[key], f"v:{key}")

    def evaluate(self, value: Any, guard: str | None = None) -> Any:
        if guard is not None:
            if guard in self._resolving:
                return _EXPRESSION
            self._resolving.add(guard)
            try:
                return self.evaluate(value)
            finally:
                self._resolving.discard(guard)
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, dict):
            result = {k: self.evaluate(v) for k, v in value.items() if not _is_property_loop(k, v)}
            for loop in next((v for k, v in value.items() if _is_property_loop(k, v)), []):
                # A property copy loop builds a list from copyIndex() expressions: not evaluated.
                if isinstance(loop, dict) and isinstance(_field(loop, "name"), str):
                    result[_field(loop, "name")] = _COPY_LOOP
            return result
        if isinstance(value, list):
            return [self.evaluate(v) for v in value]
        return value

    def _string(self, text: str) -> Any:
        if text.startswith("[["):
            return text[1:]
        if not (text.startswith("[") and text.endswith("]")):
            return text
        match = _REFERENCE.match(text)
        if not match:
            return _EXPRESSION
        kind, name = match.groups()
        return self.parameter(name) if kind.casefold() == "parameters" else self.variable(name)


def _resource_list(resources: Any) -> list[Any] | None:
    """A ``resources`` value as a list ([] when absent), None when it is not a literal list or object."""
    if resources is None:
        return []
    if isinstance(resources, dict):  # languageVersion 2.0: symbolic name -> resource
        return list(resources.values())
    return resources if isinstance(resources, list) else None


def _walk_template(origin: str, template: Any, scope: _Scope | None, supplied: Any, linked_parameters: bool,
                   parent: tuple[str, Any] | None, depth: int) -> Iterator[Virtual | Unseen]:
    if depth > _MAX_DEPTH:
        yield Unseen(origin, f"nests templates more than {_MAX_DEPTH} deep")
        return
    if not isinstance(template, dict):
        yield Unseen(origin, "has a template that is not a literal")
        return
    scope = scope or _Scope(template, supplied, linked_parameters)
    resources = _resource_list(_field(template, "resources"))
    if resources is None:
        yield Unseen(origin, "has template resources that are not a literal list")
        return
    for raw in resources:
        yield from _walk_resource(origin, raw, scope, parent, depth)


def _walk_resource(origin: str, raw: Any, scope: _Scope, parent: tuple[str, Any] | None, depth: int
                   ) -> Iterator[Virtual | Unseen]:
    if not isinstance(raw, dict):
        yield Unseen(origin, "has a template resource that is not a literal")
        return
    body = scope.evaluate({k: v for k, v in raw.items() if k.casefold() != "resources"})
    # A resource that is not deployed (condition false) or only referenced (existing) is not judged, but
    # its nested children are: a condition doesn't cascade to child resources, and an existing parent's
    # children are deployed.
    deployed = not (_field(body, "condition") is False or _field(body, "existing") is True)
    type_, name = _field(body, "type"), _field(body, "name")
    if not isinstance(type_, str):
        yield Unseen(origin, "has a template resource whose type is not a literal")
        return
    if parent is not None and "." not in type_.split("/", 1)[0]:
        full_type = f"{parent[0]}/{type_}"
        full_name: Any = f"{parent[1]}/{name}" if isinstance(parent[1], str) and isinstance(name, str) else _EXPRESSION
    else:
        full_type, full_name = type_, name
    if deployed and full_type.casefold() in (_NESTED_DEPLOYMENT, _DEPLOYMENT_STACK):
        yield from _nested_deployment(full_type, full_name, body, raw, scope, depth)
    elif deployed and (arm := arm_type(full_type)) is not None:
        yield _virtual("template resource", arm, full_type, full_name, body, {},
                       Unevaluable("the scope the template is deployed at"))
    children = _resource_list(_field(raw, "resources"))
    if children is None:
        yield Unseen(origin, "has nested template resources that are not a literal list")
        return
    for child in children:
        yield from _walk_resource(origin, child, scope, (full_type, full_name), depth)


def _nested_deployment(full_type: str, name: Any, body: dict[str, Any], raw: dict[str, Any], scope: _Scope,
                       depth: int) -> Iterator[Virtual | Unseen]:
    shown = name if isinstance(name, str) else "(a name unknown until deployment)"
    origin = f"template resource '{full_type}' '{shown}'"
    properties = _field(body, "properties")
    if _field(properties, "templateLink") is not None:
        yield Unseen(origin, "deploys a linked template (templateLink)")
        return
    options = _field(_field(properties, "expressionEvaluationOptions"), "scope")
    # A deployment stack's template always has its own parameters; a deployment's only with scope inner.
    inner = full_type.casefold() == _DEPLOYMENT_STACK or (isinstance(options, str) and options.casefold() == "inner")
    if inner:
        # Inner scope: the nested template's own parameters, given by the outer template's values.
        raw_template = _field(_field(raw, "properties"), "template")
        yield from _walk_template(origin, raw_template, None, _field(properties, "parameters"),
                                  _field(properties, "parametersLink") is not None, None, depth + 1)
    else:
        # Outer scope (ARM's default): the nested template's expressions see the outer parameters.
        raw_template = _field(_field(raw, "properties"), "template")
        yield from _walk_template(origin, raw_template, scope, None, False, None, depth + 1)


def _deployment(token: str, name: str, props: Mapping[str, Any]) -> Iterator[Virtual | Unseen]:
    where = DEPLOYMENTS[token]
    plain = _plain(props)
    yield from _template_deployment(f"deployment '{name}'", _field(plain, where) if where else plain,
                                    where or "template")


def _template_deployment(origin: str, body: Any, sources: str) -> Iterator[Virtual | Unseen]:
    """What a deployment whose template, parameters and links are in ``body`` creates."""
    if isinstance(body, Unevaluable):
        yield Unseen(origin, "has properties unknown until deployment")
        return
    if _field(body, "templateLink") is not None:
        yield Unseen(origin, "deploys a linked template (templateLink)")
        return
    template = _field(body, "template")
    if template is None:
        yield Unseen(origin, "has no template")
        return
    for item in _walk_template(origin, template, None, _field(body, "parameters"),
                               _field(body, "parametersLink") is not None, None, 0):
        yield _virtual_with_sources(item, sources) if isinstance(item, Virtual) else item


def expand(token: str, name: str, props: Mapping[str, Any]) -> list[Virtual | Unseen]:
    """The resources an opaque resource creates ([] for any other resource), in template order."""
    canonical = canonical_type(token)
    if canonical == GENERIC:
        return list(_generic(name, props))
    if canonical == AZAPI_RESOURCE:
        return list(_azapi(name, props))
    if canonical in DEPLOYMENTS:
        return list(_deployment(canonical, name, props))
    return []
