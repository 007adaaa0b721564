"""Small queries over a crossgate JSON plan, shared by the infra tests.

A plan is ``{"resources": [{"urn", "type", "name", "inputs", "dependencies",
"propertyDependencies", ...}]}`` with camelCase engine inputs; values not
known at preview time are ``{"$unknown": true}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "ai-data-platform"


def dev_stack_values() -> dict[str, Any]:
    """The project's keys from ``Pulumi.dev.yaml``, without the namespace."""
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{NAMESPACE}:")
    }


def resources_of(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    """All resources of an ``azure-native:<module>:<Type>`` token."""
    return [r for r in plan["resources"] if r["type"] == type_]


def one(plan: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    """The single resource with this type and logical name."""
    matches = [r for r in resources_of(plan, type_) if r["name"] == name]
    assert len(matches) == 1, f"expected one {type_} named {name!r}, found {len(matches)}"
    return matches[0]


def dig(inputs: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The nested input at ``path``, or ``None`` when any step is absent."""
    value: Any = inputs
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def is_unknown(value: Any) -> bool:
    """True for a value the engine only learns after deployment."""
    return isinstance(value, dict) and value.get("$unknown") is True


def depends_via(resource: dict[str, Any], prop: str, target: dict[str, Any]) -> bool:
    """True when input ``prop`` of ``resource`` is computed from ``target``."""
    return target["urn"] in resource.get("propertyDependencies", {}).get(prop, [])
