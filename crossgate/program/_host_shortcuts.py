"""Shortcuts through SDK internals that run for every resource or every input value and whose
answers are cheap to give directly.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.

* ``pulumi._types.unwrap_type`` (``T`` from ``Output[T]``, ``Input[T]``, ``InputType[T]`` and
``Optional[T]``) runs for every input value the SDK serialises, through several ``typing``
introspections; at 10,000 resources that was about 200,000 calls for a few hundred distinct types.
Its answer depends only on the type, so it is remembered per type. A type that can't be a dict key
(or an unwrapping that raises) takes the SDK's own path every time.
* ``pulumi.runtime.resource.create_urn``, which each registration awaits (the SDK uses the URN only
  without a monitor, but computes it anyway) through three ``Output`` objects and two applies. When
  its inputs are plain strings, the same URN is handed back in an already settled ``Output`` (known,
  not secret, no dependencies, as the SDK's would be); otherwise the SDK's own runs.
* ``pulumi.runtime.rpc.serialize_property`` of a plain ``str``, ``bool``, ``int``, ``float`` or
  ``None`` (most input values): the SDK returns the value itself after ruling out, one ``isinstance``
  at a time, every other kind of input. The shortcut returns it at once, after the same unwrapping of
  the declared type (which can refuse a malformed annotation); everything else, and every call that
  asks for a protobuf value, takes the SDK's own path.

Installed only on SDK releases this was checked against (``KNOWN_RELEASES`` of ``_host_outputs``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any


def install(known_releases: set[tuple[int, int]]) -> str | None:
    """Install both shortcuts; the reason it didn't, or None when it did."""
    from pulumi import _types, _version, output
    from pulumi.runtime import resource, rpc, settings

    release = (_version.version.major, _version.version.minor)
    if release not in known_releases:
        return f"pulumi {_version.version} is not a release the host's SDK shortcuts were checked against"
    missing = [name for name, owner in (("unwrap_type", _types), ("create_urn", resource), ("_OutputData", output),
                                        ("get_stack", settings), ("get_project", settings),
                                        ("serialize_property", rpc))
               if not callable(getattr(owner, name, None))]
    if missing:
        return f"pulumi {_version.version} lacks {', '.join(missing)}"
    _types.unwrap_type = _remember_per_type(_types.unwrap_type)
    resource.create_urn = _urn_of_plain_strings(resource.create_urn, output, settings)
    rpc.serialize_property = _plain_values_as_they_are(rpc.serialize_property, _types)
    return None


def _remember_per_type(unwrap: Any) -> Any:
    unwrapped: dict[Any, Any] = {}

    def unwrap_once(val: Any) -> Any:
        try:
            return unwrapped[val]
        except KeyError:
            result = unwrapped[val] = unwrap(val)
            return result
        except TypeError:  # unhashable
            return unwrap(val)

    functools.update_wrapper(unwrap_once, unwrap)
    return unwrap_once


def _urn_of_plain_strings(create_urn: Any, output: Any, settings: Any) -> Any:
    def create_urn_of_strings(name: Any, type_: Any, parent: Any = None, project: Any = None,
                              stack: Any = None) -> Any:
        if not (type(name) is str and type(type_) is str and (parent is None or type(parent) is str)
                and project is None and stack is None):
            return create_urn(name, type_, parent, project, stack)
        if parent is not None:
            prefix = parent[0:parent.rfind("::")] + "$"
        else:
            prefix = "urn:pulumi:" + settings.get_stack() + "::" + settings.get_project() + "::"
        data: asyncio.Future = asyncio.Future()
        data.set_result(output._OutputData(resources=set(), value=prefix + type_ + "::" + name, is_known=True,
                                           is_secret=False))
        return output.Output._from_data(data)

    functools.update_wrapper(create_urn_of_strings, create_urn)
    return create_urn_of_strings


#: The values ``serialize_property`` hands back unchanged (exact types: an enum or other subclass
#: takes the SDK's path).
_PLAIN = frozenset({str, bool, int, float, type(None)})


def _plain_values_as_they_are(serialize_property: Any, types_module: Any) -> Any:
    async def serialize_plain_at_once(value: Any, deps: Any, property_key: Any, resource_obj: Any = None,
                                      input_transformer: Any = None, typ: Any = None,
                                      keep_output_values: bool = False,
                                      exclude_resource_refs_from_deps: bool = False,
                                      return_protobuf_value: bool = False) -> Any:
        if type(value) in _PLAIN and not return_protobuf_value:
            if typ:
                types_module.unwrap_type(typ)
            return value
        return await serialize_property(value, deps, property_key, resource_obj, input_transformer, typ,
                                        keep_output_values, exclude_resource_refs_from_deps,
                                        return_protobuf_value)

    functools.update_wrapper(serialize_plain_at_once, serialize_property)
    return serialize_plain_at_once
