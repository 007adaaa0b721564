"""The result model: plain, frozen records that every reporter formats.

A run produces one :class:`GateResult`. Reporters are pure functions of it, so JSON, the plan table,
SARIF, JUnit and Markdown always agree.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from . import wire

SCHEMA_VERSION = "1.0"


class Level(str, enum.Enum):
    """A policy's enforcement level, as the engine and pulumi-policy name them."""

    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    REMEDIATE = "remediate"
    DISABLED = "disabled"

    @property
    def blocks(self) -> bool:
        # The engine counts remediate-level diagnostics as mandatory.
        return self in (Level.MANDATORY, Level.REMEDIATE)


class Severity(str, enum.Enum):
    UNSPECIFIED = ""
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FindingKind(str, enum.Enum):
    VIOLATION = "violation"
    #: The policy could not run because a value it read is unknown until deployment.
    INDETERMINATE = "indeterminate"
    NOT_APPLICABLE = "notApplicable"


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.ERROR: 2}[self]


@dataclass(frozen=True)
class SourceLocation:
    """Where a resource was declared; ``file`` is relative to the project directory."""

    file: str
    line: int


@dataclass(frozen=True)
class PlannedResource:
    """One resource registration, as the engine would see it in a preview.

    ``properties`` is the wire-format ``Struct`` (camelCase keys, unknown sentinels, secret
    wrappers), passed to packs untouched. :attr:`inputs` decodes it lazily for reports.
    """

    urn: str
    type: str
    name: str
    custom: bool
    properties: struct_pb2.Struct
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provider: str | None = None
    protect: bool = False
    source: SourceLocation | None = None
    #: Position in the program's declaration order (registrations arrive concurrently).
    order: int = 0
    #: Whether any input is wrapped as a secret (their values are scrubbed from every report).
    has_secrets: bool = False
    #: Resource options the engine hands packs besides protect, parent and provider.
    ignore_changes: tuple[str, ...] = ()
    #: None when the program didn't set it (the engine sends "defined" separately).
    delete_before_replace: bool | None = None
    additional_secret_outputs: tuple[str, ...] = ()
    #: In seconds, keyed create/update/delete/read, as the engine sends them (the program writes "5m").
    custom_timeouts: Mapping[str, float] = field(default_factory=dict)
    #: Alias URNs, as the engine sends them: only the alias that matched a resource of the stack's
    #: existing state (``getOldResource`` in pulumi's step generator). A preview from scratch has no
    #: state, so a program's own aliases never reach packs; a stack export or ``pulumi preview
    #: --json`` records the matched one in ``aliases``.
    aliases: tuple[str, ...] = ()
    #: The provider resource's inputs, which the engine sends packs with the provider's URN.
    provider_inputs: struct_pb2.Struct | None = None
    #: A component constructed by its provider (``remote=True``), accepted by the user.
    remote: bool = False
    #: For a dynamic resource (``pulumi.dynamic.Resource``): the provider class whose code runs at deployment.
    dynamic_provider: str | None = None

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs decoded to Python values, still in wire encoding (not redacted)."""
        return MessageToDict(self.properties)


@dataclass(frozen=True)
class PolicyInfo:
    """A policy as the pack describes it, with the enforcement level the run resolved for it."""

    name: str
    description: str
    kind: str  # "resource" or "stack"
    enforcement_level: Level
    default_level: Level
    severity: Severity = Severity.UNSPECIFIED
    display_name: str = ""
    framework: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    remediation: str = ""
    url: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    config_schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    path: str
    policies: tuple[PolicyInfo, ...] = ()
    description: str = ""

    def policy(self, name: str) -> PolicyInfo | None:
        return next((p for p in self.policies if p.name == name), None)


@dataclass(frozen=True)
class Waiver:
    """A reviewed, expiring exception for one policy on the resources a URN glob matches."""

    policy: str
    resource: str
    reason: str
    owner: str
    expires: str  # ISO date, inclusive, UTC


@dataclass(frozen=True)
class WaiverUse:
    """An active waiver and the URNs whose findings it hid, so a reviewer sees what a glob covers."""

    waiver: Waiver
    urns: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """One policy outcome for one resource (or for the stack)."""

    kind: FindingKind
    pack: str
    policy: str
    level: Level  # the effective level of this finding
    severity: Severity
    urn: str
    type: str
    name: str
    message: str
    source: SourceLocation | None = None
    #: Set when a waiver hides this finding; waived findings never block.
    waiver: Waiver | None = None

    @property
    def blocks(self) -> bool:
        return self.waiver is None and self.level.blocks


@dataclass(frozen=True)
class Remediation:
    """What a remediate-level policy would change on a resource."""

    pack: str
    policy: str
    urn: str
    type: str
    name: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    message: str = ""

    @property
    def changed_keys(self) -> tuple[str, ...]:
        keys = set(self.before) | set(self.after)
        return tuple(sorted(k for k in keys if self.before.get(k) != self.after.get(k)))


class PlainReadKind(str, enum.Enum):
    """What the program took as a plain value although it is unknown offline."""

    #: A ``secure:`` config value the gate couldn't decrypt, read with a plain getter (``Config.get``...).
    SECURE_CONFIG = "secureConfig"
    #: An invoke's unknown result, taken with ``pulumi.runtime.invoke``/``invoke_async`` (not ``*_output``).
    INVOKE = "invoke"


@dataclass(frozen=True)
class PlainRead:
    """A value unknown offline that the program took as a plain value, which can't be unknown: the
    program got a stand-in and may have branched on it. Names only, never a value; each blocks."""

    kind: PlainReadKind
    #: The config key (``project:name``) or the function token.
    name: str
    #: How it was read: the ``Config`` getter (``get``, ``require``...) or ``invoke``/``invoke_async``.
    via: str
    source: SourceLocation | None = None


@dataclass(frozen=True)
class InvokeAnswer:
    """An invoke the program made that crossgate answered without a cloud."""

    token: str
    placeholder: bool  # True when answered from the documented placeholder table
    count: int = 1


@dataclass(frozen=True)
class GateResult:
    """Everything a run found. Built once, by :meth:`crossgate.collector.Collector.build`, with every
    secret value already replaced, and never changed after: reporters only read it.

    Sequence fields are tuples (a list given to the constructor is stored as a tuple)."""

    project: str
    stack: str
    project_dir: str
    resources: tuple[PlannedResource, ...] = ()
    packs: tuple[PackInfo, ...] = ()
    findings: tuple[Finding, ...] = ()
    remediations: tuple[Remediation, ...] = ()
    invokes: tuple[InvokeAnswer, ...] = ()
    #: Warnings the program logged (``pulumi.log.warn``), then what a preview doesn't show.
    warnings: tuple[str, ...] = ()
    #: Values unknown offline the program took as plain values (each blocks, see the collector).
    plain_reads: tuple[PlainRead, ...] = ()
    errors: tuple[str, ...] = ()
    #: Tracebacks and pack stderr behind ``errors``, shown under ``--verbose`` only.
    error_details: tuple[str, ...] = ()
    #: Notes on config that lowered a policy's level below its default (reported, never silent).
    downgrades: tuple[str, ...] = ()
    #: Waivers that matched nothing, or that expired (reported, not blocking).
    unused_waivers: tuple[Waiver, ...] = ()
    expired_waivers: tuple[Waiver, ...] = ()
    unknowns_mode: str = "block"
    #: What was gated: "preview" (a program run offline), "plan", "stack-export" or "preview-json".
    origin: str = "preview"
    root_urn: str = ""
    duration_seconds: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def with_errors(self, *messages: str) -> "GateResult":
        """This result, also failed by ``messages``: for what goes wrong after the run (writing the
        plan). The messages must hold no secret value (they are not scrubbed)."""
        return dataclasses.replace(self, errors=(*self.errors, *messages))

    # -- views -------------------------------------------------------------------------------

    def of_kind(self, kind: FindingKind) -> list[Finding]:
        return [f for f in self.findings if f.kind is kind]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.of_kind(FindingKind.VIOLATION) if f.waiver is None]

    @property
    def indeterminate(self) -> list[Finding]:
        return [f for f in self.of_kind(FindingKind.INDETERMINATE) if f.waiver is None]

    @property
    def not_applicable(self) -> list[Finding]:
        return self.of_kind(FindingKind.NOT_APPLICABLE)

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waiver is not None]

    @property
    def waiver_uses(self) -> list[WaiverUse]:
        """Each waiver that hid at least one finding, with the URNs it matched (sorted)."""
        urns: dict[Waiver, set[str]] = {}
        for finding in self.waived:
            urns.setdefault(finding.waiver, set()).add(finding.urn)  # type: ignore[arg-type]
        return [WaiverUse(w, tuple(sorted(u))) for w, u in sorted(urns.items(), key=lambda i: (i[0].policy, i[0].resource))]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.kind is not FindingKind.NOT_APPLICABLE and f.blocks]

    @property
    def verdict(self) -> Verdict:
        if self.errors:
            return Verdict.ERROR
        if self.blocking:
            return Verdict.FAIL
        return Verdict.PASS

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @property
    def checked(self) -> bool:
        """False when no policy pack was evaluated: then nothing was checked."""
        return bool(self.packs)

    @functools.cached_property
    def _by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}

    def resource(self, urn: str) -> PlannedResource | None:
        return self._by_urn.get(urn)

    def summary(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "exitCode": self.exit_code,
            "resources": len(self.resources),
            "packs": len(self.packs),
            "policies": sum(len(p.policies) for p in self.packs),
            "violations": len(self.violations),
            "blocking": len(self.blocking),
            "mandatory": sum(1 for f in self.violations if f.level.blocks),
            "advisory": sum(1 for f in self.violations if not f.level.blocks),
            "indeterminate": len(self.indeterminate),
            "notApplicable": len(self.not_applicable),
            "waived": len(self.waived),
            "remediations": len(self.remediations),
            "errors": len(self.errors),
            "checked": self.checked,
        }


def redacted_inputs(resource: PlannedResource, secrets: set[str] | None = None) -> dict[str, Any]:
    """The inputs as reports show them: unknowns and secrets replaced by markers, and known secret
    values scrubbed where the program copied them into a plain value."""
    return wire.scrub_value(wire.redact(resource.inputs), secrets or set())
