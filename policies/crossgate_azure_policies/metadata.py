"""The metadata record each policy declares once, and the one place it becomes a pulumi-policy policy.

A :class:`Control` holds what the catalogue says about a control: its slug (the policy name), what
it requires, severity, the resource types it covers, how to fix a violation, and its CIS, Checkov,
Azure Policy and MCSB references. Everything the SDK wants (enforcement level, compliance
framework, tags, remediation steps, URL) is derived from it here, so ``pulumi preview``, crossgate's
reports and the generated README all say the same thing.

A :class:`Rule` pairs a Control with its check. Resource checks are ``check(args, config)`` and
yield messages; stack checks are ``check(stack, config)`` and yield ``(resource, message)``.

The Rule also makes every check see what opaque resources create (see ``_opaque``): a generic
resource's or a template's virtual resources are checked like declared ones, reported on the
opaque resource's URN with a message that starts with which resource it is
(``template resource 'Microsoft.Storage/storageAccounts' 'acct1': ...``). A check never needs code
of its own for them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (EnforcementLevel, Policy, PolicyComplianceFramework, PolicyConfigSchema,
                           PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, Severity,
                           StackValidationArgs, StackValidationPolicy)

from ._opaque import OPAQUE_TYPES, Unseen, Virtual, expand
from ._props import UnknownValueError
from ._stack import StackView, VirtualResource
from ._types import canonical_type, is_type_pattern, pattern_matches, register_tokens

__all__ = ["Control", "Rule", "resource_rule", "stack_rule", "DOCS_URL", "CIS_FRAMEWORK"]

#: Where each policy's documentation lives; a policy's URL is this plus ``#<slug>``.
DOCS_URL = "https://github.com/crossgate/crossgate/blob/main/policies/README.md"
CIS_FRAMEWORK = "CIS Microsoft Azure Foundations"
#: The CIS version Microsoft ships an Azure Policy initiative for; preferred when a control has it.
PREFERRED_CIS_VERSION = "3.0.0"

_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TYPE_TOKEN = re.compile(r"^[a-z-]+:[a-zA-Z0-9]+:[A-Z][A-Za-z0-9]*$")
#: A whole package: ``azapi:*``, or every package whose name starts with a prefix: ``azure-native_*:*``.
_PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*\*?:\*$")
_LEVEL_BY_SEVERITY = {
    Severity.CRITICAL: EnforcementLevel.MANDATORY,
    Severity.HIGH: EnforcementLevel.MANDATORY,
    Severity.MEDIUM: EnforcementLevel.ADVISORY,
    Severity.LOW: EnforcementLevel.ADVISORY,
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


@dataclass(frozen=True)
class Control:
    """One catalogue control, as a policy declares it."""

    #: The catalogue slug; also the policy name. Never reused for a different control.
    slug: str
    #: What a compliant resource (or stack) looks like, as one sentence.
    description: str
    severity: Severity
    #: Canonical type tokens the control covers (every other spelling of them matches too, see
    #: ``_types``), or package patterns (``azapi:*``) for a control about other packages.
    resource_types: tuple[str, ...]
    #: How to fix a violation.
    remediation: str
    #: CIS Microsoft Azure Foundations references as ``(version, section)``.
    cis: tuple[tuple[str, str], ...] = ()
    checkov: tuple[str, ...] = ()
    azure_policy: tuple[str, ...] = ()
    #: Microsoft cloud security benchmark ids; a ``~`` prefix marks an inferred mapping.
    mcsb: tuple[str, ...] = ()
    #: Set only to override the level derived from severity (DISABLED for deployment-specific controls).
    default_level: EnforcementLevel | None = None
    url: str = ""

    def __post_init__(self) -> None:
        if not _SLUG.match(self.slug) or self.slug == "all":
            raise ValueError(f"invalid control slug {self.slug!r}")
        if not isinstance(self.severity, Severity):
            raise TypeError(f"{self.slug}: severity must be a pulumi_policy.Severity")
        if not self.description or not self.remediation:
            raise ValueError(f"{self.slug}: description and remediation are required")
        if not self.resource_types:
            raise ValueError(f"{self.slug}: at least one resource type is required")
        register_tokens(self.resource_types)
        for token in self.resource_types:
            if is_type_pattern(token):
                if not _PACKAGE_PATTERN.match(token):
                    raise ValueError(f"{self.slug}: {token!r} is not a package pattern like 'azapi:*'")
            elif not _TYPE_TOKEN.match(token) or canonical_type(token) != token:
                raise ValueError(f"{self.slug}: {token!r} is not a canonical type token")
        for ref in self.cis:
            if len(ref) != 2 or not all(ref) or not _version_key(ref[0]):
                raise ValueError(f"{self.slug}: CIS reference {ref!r} must be (version, section)")
        if self.default_level is not None and not isinstance(self.default_level, EnforcementLevel):
            raise TypeError(f"{self.slug}: default_level must be an EnforcementLevel")

    @property
    def enforcement_level(self) -> EnforcementLevel:
        """The level the policy ships with: from severity, unless overridden."""
        return self.default_level or _LEVEL_BY_SEVERITY[self.severity]

    @property
    def deployment_specific(self) -> bool:
        """Off unless a deployment turns it on through config."""
        return self.enforcement_level is EnforcementLevel.DISABLED

    @property
    def docs_url(self) -> str:
        return self.url or f"{DOCS_URL}#{self.slug}"

    @property
    def cis_versions(self) -> tuple[str, ...]:
        return tuple(sorted({v for v, _ in self.cis}, key=_version_key))

    @property
    def framework(self) -> PolicyComplianceFramework | None:
        """CIS 3.0.0 where the control has a 3.0.0 reference, else the newest version it has."""
        if not self.cis:
            return None
        versions = self.cis_versions
        version = PREFERRED_CIS_VERSION if PREFERRED_CIS_VERSION in versions else versions[-1]
        sections = [section for v, section in self.cis if v == version]
        return PolicyComplianceFramework(name=CIS_FRAMEWORK, version=version, reference=", ".join(sections))

    @property
    def references(self) -> tuple[str, ...]:
        """Every reference as a tag: ``cis-3.0.0:4.17``, ``checkov:CKV_AZURE_190``, ``mcsb:NS-2``..."""
        return (tuple(f"cis-{v}:{s}" for v, s in self.cis)
                + tuple(f"checkov:{c}" for c in self.checkov)
                + tuple(f"azure-policy:{g}" for g in self.azure_policy)
                + tuple(f"mcsb:{m}" for m in self.mcsb))

    @property
    def tags(self) -> list[str]:
        # "security" makes GitHub code scanning rank findings by their security-severity.
        return ["security", *self.references] + [f"type:{t}" for t in self.resource_types]

    def policy_kwargs(self) -> dict[str, Any]:
        """The metadata keyword arguments of a pulumi-policy ``Policy``."""
        return {
            "name": self.slug,
            "description": self.description,
            "enforcement_level": self.enforcement_level,
            "severity": self.severity,
            "framework": self.framework,
            "tags": self.tags,
            "remediation_steps": self.remediation,
            "url": self.docs_url,
        }


ResourceCheck = Callable[[ResourceValidationArgs, Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[StackView, Mapping[str, Any]], Iterable[tuple[PolicyResource, str]]]


@dataclass(frozen=True)
class Rule:
    """A control and its check: everything needed to build the policy."""

    control: Control
    check: Callable[..., Iterable[Any]]
    kind: str  # "resource" or "stack"
    #: JSON schema of each config property; every property has a default.
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("resource", "stack"):
            raise ValueError(f"{self.control.slug}: kind must be 'resource' or 'stack'")
        for key, schema in self.settings.items():
            if "default" not in schema:
                raise ValueError(f"{self.control.slug}: config property {key!r} needs a default")

    @property
    def name(self) -> str:
        return self.control.slug

    @functools.cached_property
    def _types(self) -> frozenset[str]:
        """The control's types, canonical (so a resource's type is matched with one set lookup)."""
        return frozenset(canonical_type(t) for t in self.control.resource_types if not is_type_pattern(t))

    @functools.cached_property
    def _patterns(self) -> tuple[str, ...]:
        return tuple(t for t in self.control.resource_types if is_type_pattern(t))

    @functools.cached_property
    def _sees_opaque(self) -> bool:
        """Whether what generic resources and templates create can matter: the rule checks azure-native types."""
        return any(t.startswith("azure-native:") for t in self._types)

    def covers(self, token: str) -> bool:
        """Whether a resource of type ``token`` (any spelling) is one this rule checks."""
        return self._covers(token, canonical_type(token))

    def _covers(self, token: str, canonical: str) -> bool:
        if canonical in self._types:
            return True
        patterns = self._patterns
        return bool(patterns) and any(pattern_matches(token, p) for p in patterns)

    @property
    def defaults(self) -> dict[str, Any]:
        return {key: schema["default"] for key, schema in self.settings.items()}

    def config(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Schema defaults overlaid with the configured values (the engine may send none).

        Config travels as a protobuf Struct, where every number is a float; integers are restored.
        """
        merged = {**self.defaults, **dict(given or {})}
        for key, schema in self.settings.items():
            value = merged.get(key)
            if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
                merged[key] = int(value)
        return merged

    def build(self, enforcement_level: EnforcementLevel | None = None) -> Policy:
        """A new pulumi-policy policy for this rule; ``enforcement_level`` overrides the default."""
        kwargs = self.control.policy_kwargs()
        if enforcement_level is not None:
            kwargs["enforcement_level"] = enforcement_level
        if self.settings:
            kwargs["config_schema"] = PolicyConfigSchema(properties={k: dict(v) for k, v in self.settings.items()})
        if self.kind == "resource":
            return ResourceValidationPolicy(validate=self._validate_resource, **kwargs)
        return StackValidationPolicy(validate=self._validate_stack, **kwargs)

    def _validate_resource(self, args: ResourceValidationArgs, report_violation: Callable[..., None]) -> None:
        canonical = canonical_type(args.resource_type)
        if self._covers(args.resource_type, canonical):
            for message in self.check(args, self.config(args.get_config())):
                report_violation(message)
        if canonical not in OPAQUE_TYPES or not self._sees_opaque:
            return
        # What a generic resource or a template creates: every decidable violation first, then (like
        # any unknown value) the first thing that could not be read ends the policy as indeterminate.
        pending: UnknownValueError | None = None
        for item in expand(args.resource_type, args.name, args.props):
            if isinstance(item, Unseen):
                pending = pending or item.error()
            elif not self._types.isdisjoint(item.tokens):
                pending = self._check_virtual(args, item, report_violation) or pending
        if pending is not None:
            raise pending

    def _check_virtual(self, args: ResourceValidationArgs, item: Virtual, report_violation: Callable[..., None]
                       ) -> UnknownValueError | None:
        try:
            for message in self.check(VirtualArgs(args, item), self.config(args.get_config())):
                report_violation(f"{item.origin}: {message}")
        except UnknownValueError as exc:
            exc.message = f"{item.origin}: {exc.message}"
            return exc
        return None

    def _validate_stack(self, args: StackValidationArgs, report_violation: Callable[..., None]) -> None:
        # One index of the stack per AnalyzeStack request, shared by its stack policies.
        stack = StackView.for_request(args.resources, report_violation)
        for resource, message in self.check(stack, self.config(args.get_config())):
            if isinstance(resource, VirtualResource):
                message = f"{resource.origin}: {message}"
            report_violation(message, resource.urn)
        # Every decidable violation is reported first; then, if a relation could not be resolved,
        # the policy says so the way pulumi-policy does for any unknown value.
        stack.raise_unresolved()


class VirtualArgs:
    """The validation arguments of a virtual resource, shaped like pulumi-policy's ``ResourceValidationArgs``."""

    def __init__(self, args: ResourceValidationArgs, item: Virtual) -> None:
        self.resource_type = item.token
        self.props = item.props
        self.urn = args.urn
        self.name = item.name
        self.opts = args.opts
        self.provider = args.provider
        self.stack_tags = args.stack_tags
        self.get_config = args.get_config
        #: Which resource of the opaque one this is, as messages name it.
        self.origin = item.origin


def resource_rule(control: Control, **settings: Mapping[str, Any]) -> Callable[[ResourceCheck], Rule]:
    """Declare a resource policy: ``@resource_rule(Control(...))`` above ``def check(args, config)``."""
    return lambda check: Rule(control=control, check=check, kind="resource", settings=settings)


def stack_rule(control: Control, **settings: Mapping[str, Any]) -> Callable[[StackCheck], Rule]:
    """Declare a stack policy: ``@stack_rule(Control(...))`` above ``def check(stack, config)``."""
    return lambda check: Rule(control=control, check=check, kind="stack", settings=settings)
