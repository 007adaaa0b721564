"""The SDK's type unwrapping, worked out once per declared type.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.

``pulumi._types.unwrap_type`` (``T`` from ``Output[T]``, ``Input[T]``, ``InputType[T]`` and
``Optional[T]``) runs for every input value the SDK serialises, through several ``typing``
introspections; at 10,000 resources that was about 200,000 calls for a few hundred distinct types.
Its answer depends only on the type, so it is remembered per type. A type that can't be a dict key
(or an unwrapping that raises) takes the SDK's own path every time.

Installed only on SDK releases this was checked against (``KNOWN_RELEASES`` of ``_host_outputs``).
"""

from __future__ import annotations

from typing import Any


def install(known_releases: set[tuple[int, int]]) -> str | None:
    """Remember ``unwrap_type`` per type; the reason it didn't, or None when it did."""
    from pulumi import _types, _version

    release = (_version.version.major, _version.version.minor)
    if release not in known_releases:
        return f"pulumi {_version.version} is not a release the host's type cache was checked against"
    if not callable(getattr(_types, "unwrap_type", None)):
        return f"pulumi {_version.version} lacks _types.unwrap_type"
    unwrap = _types.unwrap_type
    unwrapped: dict[Any, Any] = {}

    def unwrap_once(val: Any) -> Any:
        try:
            return unwrapped[val]
        except KeyError:
            result = unwrapped[val] = unwrap(val)
            return result
        except TypeError:  # unhashable
            return unwrap(val)

    unwrap_once.__doc__, unwrap_once.__wrapped__ = unwrap.__doc__, unwrap  # type: ignore[attr-defined]
    _types.unwrap_type = unwrap_once
    return None
