"""CrossGuard policies for a private AI-training-data platform on Azure (azure-native provider).

Every policy is one catalogue control: a :class:`~crossgate_azure_policies.metadata.Control` record
and a small check, grouped by Azure service family. Compose packs from them::

    from pulumi_policy import EnforcementLevel, PolicyPack
    from crossgate_azure_policies import select

    PolicyPack("team-pack", policies=select(severity="critical", enforcement_level=EnforcementLevel.MANDATORY))

Each call builds new policy objects, so a pack may change their levels without affecting another.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

from pulumi_policy import EnforcementLevel, Policy, Severity

from . import authorization, coverage, identity, keyvault, ml, monitor, network, privatelink, storage
from ._props import type_matches
from .metadata import CIS_FRAMEWORK, Control, Rule

__version__ = "0.1.0"

__all__ = [
    "__version__", "Control", "Rule", "rules", "controls", "all_policies", "policies_by_name", "select",
    "FRAMEWORKS",
]

_FAMILIES = (storage, keyvault, network, privatelink, authorization, identity, monitor, ml, coverage)

#: Framework names accepted by :func:`select`, and the tag prefix each one matches.
FRAMEWORKS = {"cis": "cis-", "checkov": "checkov:", "azure-policy": "azure-policy:", "mcsb": "mcsb:"}

SeverityFilter = Union[Severity, str, Iterable[Union[Severity, str]]]


def rules() -> tuple[Rule, ...]:
    """Every rule, grouped by family, in declaration order."""
    return tuple(rule for family in _FAMILIES for rule in family.RULES)


def controls() -> tuple[Control, ...]:
    """Every control's metadata record."""
    return tuple(rule.control for rule in rules())


def all_policies() -> list[Policy]:
    """New policy objects for every control, at their default enforcement levels."""
    return [rule.build() for rule in rules()]


def policies_by_name() -> dict[str, Policy]:
    """New policy objects for every control, keyed by policy name (the catalogue slug)."""
    return {rule.name: rule.build() for rule in rules()}


def _severities(value: SeverityFilter) -> set[Severity]:
    values = [value] if isinstance(value, (Severity, str)) else list(value)
    try:
        return {v if isinstance(v, Severity) else Severity(str(v).lower()) for v in values}
    except ValueError:
        raise ValueError(f"unknown severity in {values!r}; use low, medium, high or critical") from None


def _framework_prefixes(value: str | Iterable[str]) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    prefixes = []
    for v in values:
        key = v.strip().lower()
        if key == CIS_FRAMEWORK.lower():
            key = "cis"
        if key in FRAMEWORKS:
            prefixes.append(FRAMEWORKS[key])
        elif key.startswith("cis-") and key[4:]:
            prefixes.append(f"{key}:")  # one CIS version, e.g. "cis-6.0.0"
        else:
            raise ValueError(f"unknown framework {v!r}; use one of {', '.join(FRAMEWORKS)} or cis-<version>")
    return prefixes


def select(*, severity: SeverityFilter | None = None, framework: str | Iterable[str] | None = None,
           names: Iterable[str] | None = None, resource_type: str | None = None,
           enforcement_level: EnforcementLevel | None = None) -> list[Policy]:
    """New policy objects for the controls matching every given filter.

    :param severity: a severity (or several): ``"critical"``, ``Severity.HIGH``, ``["high", "critical"]``.
    :param framework: ``"cis"`` (any version), ``"cis-6.0.0"``, ``"checkov"``, ``"azure-policy"`` or
        ``"mcsb"``: controls with at least one reference in it.
    :param names: policy names (catalogue slugs); an unknown name is an error.
    :param resource_type: a type token, in any spelling of it (versioned modules, local SDK packages,
        v2 aliases).
    :param enforcement_level: overrides the default level of every selected policy.
    """
    selected = list(rules())
    if names is not None:
        wanted = list(names)
        known = {r.name for r in selected}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise ValueError(f"no policy named {', '.join(map(repr, unknown))}")
        selected = [r for r in selected if r.name in set(wanted)]
    if severity is not None:
        severities = _severities(severity)
        selected = [r for r in selected if r.control.severity in severities]
    if framework is not None:
        prefixes = _framework_prefixes(framework)
        selected = [r for r in selected if any(t.startswith(p) for t in r.control.references for p in prefixes)]
    if resource_type is not None:
        selected = [r for r in selected if type_matches(resource_type, r.control.resource_types)]
    return [r.build(enforcement_level) for r in selected]
