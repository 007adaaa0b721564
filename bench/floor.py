"""The floor for the reference stack: one fresh interpreter importing what the gate has to import.

That is pulumi, pulumi_policy, grpc, and every azure-native module and class (or function) the
program touches, derived from a ``crossgate preview --format json`` document (resource types and
invoke tokens). Nothing runs: no program, no pack, no RPC.
"""

from __future__ import annotations

import re
from typing import Any

BASE_MODULES = ("pulumi", "pulumi.runtime", "pulumi_policy", "grpc")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def touched(document: dict[str, Any]) -> dict[str, list[str]]:
    """``{python module: [attributes]}`` for the azure-native types and invokes in a preview."""
    found: dict[str, set[str]] = {}
    for resource in document.get("resources") or []:
        rtype = resource.get("type") or ""
        if rtype == "pulumi:providers:azure-native":
            found.setdefault("pulumi_azure_native", set()).add("Provider")
            continue
        parts = rtype.split(":")
        if len(parts) == 3 and parts[0] == "azure-native":
            found.setdefault(f"pulumi_azure_native.{parts[1]}", set()).add(parts[2])
    for invoke in document.get("invokes") or []:
        parts = (invoke.get("token") or "").split(":")
        if len(parts) == 3 and parts[0] == "azure-native":
            found.setdefault(f"pulumi_azure_native.{parts[1]}", set()).add(_snake(parts[2]))
    return {module: sorted(names) for module, names in sorted(found.items())}


def code(modules: dict[str, list[str]]) -> str:
    """The ``python -c`` source of the floor."""
    lines = ["import importlib"]
    lines += [f"import {m}" for m in BASE_MODULES]
    for module, names in modules.items():
        lines.append(f"_m = importlib.import_module({module!r})")
        lines += [f"getattr(_m, {n!r})" for n in names]
    return "\n".join(lines) + "\n"
