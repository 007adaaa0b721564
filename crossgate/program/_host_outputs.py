"""A registered resource's output properties, each made a working ``Output`` only when the program
first uses it.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.

For every output property of every resource (about 60 for an azure-native storage account), the
SDK's ``rpc.transfer_properties`` builds an ``Output`` at construction: four futures, a task that
awaits them, a resolver, and an entry in the set of outputs the SDK waits for at exit. Almost none
is ever read by a program, yet at 10,000 resources they were the largest single cost of the host.

Here each property is still an ``Output`` object in the resource's ``__dict__`` from construction on
(so ``pulumi.get``, attribute access, ``vars()`` and copies of the dict see the same keys and the
same type), but its ``_data`` (the one awaitable every ``Output`` method goes through) is created
the first time anything asks for it: already settled with what the registration resolved, or
pending and settled when the registration resolves it. The settled value, knownness, secretness and
dependencies (the property's dependencies plus the resource) are the ones the SDK would have
computed, through the SDK's own ``_OutputData``, and a materialised output is tracked like any
other, so the SDK still waits for it at exit.

Installed only on SDK releases this was checked against (``KNOWN_RELEASES``), and only when the
internals it relies on are there; otherwise the SDK's own path runs unchanged.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

#: pulumi SDK (major, minor) releases whose ``transfer_properties`` and ``Output`` this mirrors.
KNOWN_RELEASES = {(3, 272)}
#: Where a not yet materialised ``Output`` keeps its state, in its own ``__dict__``.
_STATE = "_crossgate_pending"
#: The state of an output whose registration hasn't resolved it yet.
_UNRESOLVED = ("unresolved",)


def install() -> str | None:
    """Replace the SDK's ``transfer_properties``; the reason it didn't, or None when it did."""
    from pulumi import _version, output
    from pulumi.runtime import rpc

    release = (_version.version.major, _version.version.minor)
    if release not in KNOWN_RELEASES:
        return f"pulumi {_version.version} is not a release the host's lazy outputs were checked against"
    missing = [name for name, owner in (("transfer_properties", rpc), ("_OutputData", output),
                                        ("_track", output.Output), ("_untrack", output.Output),
                                        ("__getattr__", output.Output))
               if not hasattr(owner, name)]
    if missing:
        return f"pulumi {_version.version} lacks {', '.join(missing)}"
    data_type, output_type = output._OutputData, output.Output
    lift, untrack = output_type.__getattr__, output_type._untrack

    def settle(fut: asyncio.Future, res: Any, value: Any, is_known: bool, is_secret: bool, deps: Any,
               failed: BaseException | None) -> None:
        # As the SDK's resolver and Output.__init__ do: the resource joins the property's dependencies.
        resources = set(deps) if deps else set()
        resources.add(res)
        if failed is not None:
            fut.set_exception(failed)
        else:
            fut.set_result(data_type(resources=resources, value=value, is_known=is_known, is_secret=is_secret))

    def resolve(res: Any, out: Any, value: Any, is_known: bool, is_secret: bool, deps: Any,
                failed: BaseException | None) -> None:
        state = out.__dict__
        data = state.get("_data")
        if data is not None:
            settle(data, res, value, is_known, is_secret, deps, failed)
        elif state.get(_STATE) is _UNRESOLVED:
            state[_STATE] = (res, value, is_known, is_secret, deps, failed)
        else:  # resolved twice: the SDK's futures refuse it the same way
            raise asyncio.InvalidStateError("invalid state")

    def transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Any]:
        resolvers: dict[str, Any] = {}
        for name in props:
            if name == "urn" or (name == "id" and custom):
                continue  # the SDK handles these itself
            out = object.__new__(output_type)
            out.__dict__[_STATE] = _UNRESOLVED
            resolvers[name] = functools.partial(resolve, res, out)
            res.__dict__[name] = out
        return resolvers

    def materialise_or_lift(self: Any, item: str) -> Any:
        if item == "_data":
            state = self.__dict__
            pending = state.pop(_STATE, None)
            if pending is not None:
                fut: asyncio.Future = asyncio.Future()
                state["_data"] = fut
                if pending is not _UNRESOLVED:
                    settle(fut, *pending)
                self._track()
                return fut
        return lift(self, item)

    def materialise_then_untrack(self: Any) -> None:
        # The SDK reads ``_data`` while it holds the lock that tracking takes: materialise first.
        if _STATE in self.__dict__:
            materialise_or_lift(self, "_data")
        untrack(self)

    functools.update_wrapper(materialise_or_lift, lift)
    functools.update_wrapper(materialise_then_untrack, untrack)
    output_type.__getattr__ = materialise_or_lift
    output_type._untrack = materialise_then_untrack
    rpc.transfer_properties = transfer_properties
    return None
