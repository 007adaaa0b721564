"""The gate's own settings for a pack, kept in the pack's config under the reserved key ``crossgate``.

They live with the pack's config (its ``initialConfig`` or the ``--policy-pack-config`` file that CI
takes from the protected base branch), never in a waivers file or a flag that the change under
review controls::

    {"crossgate": {"waiverMaxDays": 90, "allowCriticalWaivers": false, "allowCriticalDowngrades": false}}

The Pulumi engine passes the key through to the pack as config for a policy that does not exist,
which pulumi-policy ignores, so the same file still works with ``pulumi preview``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError

KEY = "crossgate"


@dataclass(frozen=True)
class GateSettings:
    waiver_max_days: int = 90
    allow_critical_waivers: bool = False
    allow_critical_downgrades: bool = False


_FIELDS = {
    "waiverMaxDays": ("waiver_max_days", int),
    "allowCriticalWaivers": ("allow_critical_waivers", bool),
    "allowCriticalDowngrades": ("allow_critical_downgrades", bool),
}


def parse(layers: list[tuple[str, dict[str, Any]]]) -> GateSettings:
    """Merge the ``crossgate`` entries of each config layer, later layers winning."""
    values: dict[str, Any] = {}
    for where, props in layers:
        for key, value in props.items():
            if key not in _FIELDS:
                raise InputError(f"{where}: unknown crossgate setting '{key}' "
                                 f"(known: {', '.join(sorted(_FIELDS))})")
            attr, kind = _FIELDS[key]
            if kind is int and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise InputError(f"{where}: crossgate setting '{key}' must be a {kind.__name__}")
            if attr == "waiver_max_days" and not 1 <= value <= 365:
                raise InputError(f"{where}: crossgate setting 'waiverMaxDays' must be between 1 and 365")
            values[attr] = value
    return GateSettings(**values)
