"""Shapes the outputs a preview hands back to the program like the provider's, not like the inputs.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.

A preview carries a resource's inputs over as its outputs. Where a provider accepts an input in one
shape and returns it in another (azure-native takes ``identity.userAssignedIdentities`` as a list of
IDs and returns a map keyed by ID), the SDK's output types say so, and the SDK refuses a value of
the wrong shape. The generic rule follows those output types: a property whose value doesn't have the
structure its output type declares is dropped, so the program sees it as unknown, as it would before
deployment. The documented conversions in ``output_shapes.json`` turn such a value into the
provider's shape instead.
"""

from __future__ import annotations

import collections.abc
import json
import os
import typing
from typing import Any

from google.protobuf import struct_pb2

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

_SEQUENCES = (list, typing.List, typing.Sequence, collections.abc.Sequence)  # noqa: UP006
_MAPPINGS = (dict, typing.Dict, typing.Mapping, collections.abc.Mapping)  # noqa: UP006
#: How the generic rule treats a declared type (see ``OutputShaper._describe``).
_LEAF, _SEQUENCE, _MAPPING, _OUTPUT_TYPE = "leaf", "sequence", "mapping", "output type"
SHAPES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output_shapes.json")


class _Mismatch(Exception):
    """The value's structure is not the one its output type declares."""


def load_conversions(path: str = SHAPES_FILE) -> dict[str, dict[str, str]]:
    """``{package: {property name: conversion}}`` from the documented table."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    table: dict[str, dict[str, str]] = {}
    for entry in doc["conversions"]:
        table.setdefault(entry["package"], {})[entry["property"]] = entry["conversion"]
    return table


class OutputShaper:
    def __init__(self, conversions: dict[str, dict[str, str]]) -> None:
        self._conversions = conversions
        self._resource_types: dict[type, dict[str, Any]] = {}
        self._output_types: dict[type, dict[str, Any]] = {}
        self._described: dict[Any, tuple[str, Any]] = {}

    def outputs(self, cls: type | None, type_token: str, inputs: struct_pb2.Struct) -> struct_pb2.Struct:
        """The inputs reshaped as the resource's outputs; ``inputs`` itself when nothing changes."""
        if cls is None or not inputs.fields:
            return inputs
        types = self._types_of_resource(cls)
        if not types:
            return inputs
        conversions = self._conversions.get(type_token.split(":", 1)[0], {})
        changed: dict[str, struct_pb2.Value | None] = {}
        for key, value in inputs.fields.items():
            typ = types.get(key)
            if typ is None:
                continue
            try:
                shaped = self._shape(value, typ, key, conversions)
            except _Mismatch:
                changed[key] = None
                continue
            if shaped is not None:
                changed[key] = shaped
        if not changed:
            return inputs
        out = struct_pb2.Struct()
        out.CopyFrom(inputs)
        for key, shaped in changed.items():
            if shaped is None:
                del out.fields[key]  # unknown until deployment, as in a first preview
            else:
                out.fields[key].CopyFrom(shaped)
        return out

    # -- the generic rule -------------------------------------------------------------------

    def _shape(self, value: struct_pb2.Value, typ: Any, name: str,
               conversions: dict[str, str]) -> struct_pb2.Value | None:
        """None when ``value`` fits ``typ``; a converted value; or raise :class:`_Mismatch`."""
        category, detail = self._describe(typ)
        if category is _LEAF:
            return None  # primitives, enums, unions and untyped values: the SDK takes them as they are
        kind = value.WhichOneof("kind")
        if kind == "null_value" or (kind == "string_value" and value.string_value == UNKNOWN):
            return None
        if kind == "struct_value" and SIG_KEY in value.struct_value.fields:
            sig = value.struct_value.fields[SIG_KEY].string_value
            if sig != SECRET_SIG or "value" not in value.struct_value.fields:
                return None  # resource references, assets and archives keep their own encoding
            inner = self._shape(value.struct_value.fields["value"], typ, name, conversions)
            if inner is None:
                return None
            out = struct_pb2.Value()
            out.CopyFrom(value)
            out.struct_value.fields["value"].CopyFrom(inner)
            return out
        if category is _SEQUENCE:
            if kind != "list_value":
                raise _Mismatch
            return self._shape_items(value, [(i, v) for i, v in enumerate(value.list_value.values)],
                                     detail, name, conversions)
        if category is _MAPPING:
            if kind == "list_value":
                return _convert(value, conversions.get(name))
            if kind != "struct_value":
                raise _Mismatch
            return self._shape_items(value, list(value.struct_value.fields.items()), detail, name, conversions)
        if kind != "struct_value":  # an output type
            raise _Mismatch
        out = None
        for key, item in value.struct_value.fields.items():
            shaped = self._shape(item, detail.get(key), key, conversions)
            if shaped is not None:
                if out is None:
                    out = struct_pb2.Value()
                    out.CopyFrom(value)
                out.struct_value.fields[key].CopyFrom(shaped)
        return out

    def _describe(self, typ: Any) -> tuple[str, Any]:
        """What the generic rule needs of a declared type, worked out once per type: its category
        and its element type (sequences and mappings) or field types (output types)."""
        try:
            return self._described[typ]
        except KeyError:
            described = self._described[typ] = self._describe_uncached(typ)
            return described
        except TypeError:  # an unhashable annotation
            return self._describe_uncached(typ)

    def _describe_uncached(self, typ: Any) -> tuple[str, Any]:
        typ = _plain_type(typ)
        if typ is None:
            return _LEAF, None
        origin = typing.get_origin(typ) or typ
        args = typing.get_args(typ)
        if origin in _SEQUENCES:
            return _SEQUENCE, args[0] if len(args) == 1 else None
        if origin in _MAPPINGS:
            return _MAPPING, args[1] if len(args) == 2 else None
        if isinstance(typ, type) and _is_output_type(typ):
            return _OUTPUT_TYPE, self._types_of_output(typ)
        return _LEAF, None

    def _shape_items(self, value: struct_pb2.Value, items: list, element: Any, name: str,
                     conversions: dict[str, str]) -> struct_pb2.Value | None:
        out = None
        for key, item in items:
            shaped = self._shape(item, element, name, conversions)
            if shaped is None:
                continue
            if out is None:
                out = struct_pb2.Value()
                out.CopyFrom(value)
            if isinstance(key, int):
                out.list_value.values[key].CopyFrom(shaped)
            else:
                out.struct_value.fields[key].CopyFrom(shaped)
        return out

    def _types_of_resource(self, cls: type) -> dict[str, Any]:
        return _declared_types(self._resource_types, cls, "resource_types")

    def _types_of_output(self, cls: type) -> dict[str, Any]:
        return _declared_types(self._output_types, cls, "output_type_types")


def _declared_types(cache: dict[type, dict[str, Any]], cls: type, reader: str) -> dict[str, Any]:
    """``cls``'s declared property types as the SDK's ``_types.<reader>`` reads them, once per class;
    a class without usable annotations has nothing to shape."""
    types = cache.get(cls)
    if types is None:
        from pulumi import _types

        try:
            types = getattr(_types, reader)(cls)
        except Exception:  # noqa: BLE001
            types = {}
        cache[cls] = types
    return types


def _is_output_type(cls: type) -> bool:
    from pulumi import _types

    return _types.is_output_type(cls)


def _plain_type(typ: Any) -> Any:
    """``T`` from ``Output[T]``, ``Optional[T]`` and forward references; None for ``Any`` or unresolvable."""
    if typ is None or typ is Any or isinstance(typ, (str, typing.ForwardRef)):
        return None
    from pulumi import _types

    try:
        typ = _types.unwrap_type(typ)
    except Exception:  # noqa: BLE001
        return None
    return None if typ is Any else typ


def _convert(value: struct_pb2.Value, conversion: str | None) -> struct_pb2.Value:
    """A documented conversion of a list into the map the provider returns."""
    if conversion != "list-to-map-keyed-by-item":
        raise _Mismatch
    keys = []
    for item in value.list_value.values:
        if item.WhichOneof("kind") != "string_value" or item.string_value == UNKNOWN:
            raise _Mismatch  # a key unknown until deployment: the whole map is unknown
        keys.append(item.string_value)
    out = struct_pb2.Value()
    out.struct_value.SetInParent()
    for key in keys:
        # What the provider reports for each key (principal and client IDs) is computed.
        out.struct_value.fields[key].string_value = UNKNOWN
    return out
