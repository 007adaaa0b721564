"""What a preview from scratch does with the aliases a program declares.

The engine hands packs only the alias that matched a resource of the stack's existing state
(``getOldResource`` in pulumi/pulumi's ``step_generator.go``; pulumi-policy's ``resource_options``
integration test pins ``aliases=[]`` for an aliased resource on a new stack). With no state there is
nothing to match, so the host drops aliases before the SDK resolves them (azure-native attaches about
25 per resource, and resolving them dominated registration). What the engine still does with them
in a preview is refuse an alias URN that doesn't parse (``resmon.RegisterResource``: "invalid alias
URN", "invalid parent alias URN"); this module does the same for the values it can see without
resolving anything. An alias given as an Output is dropped unchecked: the SDK skips it when it is
unknown, and its value would never reach a pack.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.
"""

from __future__ import annotations

from typing import Any

_PREFIX = "urn:pulumi:"


def _is_urn(value: str) -> bool:
    # The engine's check (``urn.URN.IsValid``): the prefix and at least three "::" delimiters.
    return value.startswith(_PREFIX) and value.count("::") >= 3


class InvalidAlias(Exception):
    """An alias the engine refuses when the resource registers."""


def check(aliases: Any, type_: str, name: str) -> None:
    """Raise :class:`InvalidAlias` if the engine would refuse these aliases of the resource."""
    import pulumi

    for alias in aliases or ():
        if isinstance(alias, str):
            if not _is_urn(alias):
                raise InvalidAlias(f"invalid alias URN \"{alias}\" of resource '{name}' ({type_}): not a URN")
        elif isinstance(alias, pulumi.Alias):
            parent = alias.parent
            if isinstance(parent, str) and parent and not _is_urn(parent):
                raise InvalidAlias(
                    f"invalid parent alias URN \"{parent}\" of resource '{name}' ({type_}): not a URN")
