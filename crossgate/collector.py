"""Turns what packs answer into findings, and builds the run's one result.

Worker threads hand every reply to a :class:`Collector`; nothing else records findings. Each reply
is checked against the levels the gate configured (see :mod:`crossgate.packs.pool`): a diagnostic,
remediation or not-applicable outcome from a policy the gate disabled, or a diagnostic at another
level than the gate configured, means something other than the gate configured the pack, and the
run cannot be trusted (exit 2). The engine hands it everything else the result reports: what the
program told (its stack, invokes, warnings and plain reads, see :func:`plain_read_findings`), the
gate's own warnings and errors. :meth:`Collector.build` then produces the frozen
:class:`GateResult` once, single-threaded: ordered, waivers applied, and every secret value
replaced in everything a reporter could print. Nothing changes it afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from typing import Any, Iterable, Mapping

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import analyzer_pb2

from . import urn as urns
from . import waivers as waivers_module
from . import wire
from .errors import GateError, PackError
from .model import (Finding, FindingKind, GateResult, InvokeAnswer, Level, PackInfo, PlainRead, PlainReadKind,
                    PlannedResource, Remediation, Severity, Waiver)
from .packs import config as pack_config
from .packs.pool import Pack
from .waivers import default_waivers_path, load_waivers, today_utc

_SECRET_SIG = wire.SECRET_SIG.encode()
# pulumi-policy's wording when a policy touched a value that is unknown during preview.
_CANT_RUN = re.compile(r"^can't run (?P<what>policy|remediation) '(?P<policy>[^']+)' from policy pack '[^']*' "
                       r"during preview: (?P<why>.*)$", re.S)


def _reported_level(configured: Level) -> Level:
    # pulumi-policy reports a remediate-level policy's remaining violation as mandatory.
    return Level.MANDATORY if configured is Level.REMEDIATE else configured


@dataclasses.dataclass(frozen=True)
class Subject:
    """What a run gates: the result's identity, known before anything is collected."""

    project: str
    stack: str
    project_dir: str
    #: "preview" (a program run offline), "plan", "stack-export" or "preview-json".
    origin: str = "preview"


#: crossgate's own policies (pack ``crossgate``): a value unknown offline that the program took as a plain value.
PLAIN_READ_POLICIES = {
    PlainReadKind.SECURE_CONFIG: "secure-config-read-as-plain-value",
    PlainReadKind.INVOKE: "invoke-result-read-as-plain-value",
}


#: ``PlainRead.via`` of an invoke result read by an ``Output.apply`` callback that never ran offline.
APPLY = "apply"


def _plain_read_message(read: PlainRead) -> str:
    if read.kind is PlainReadKind.SECURE_CONFIG:
        return (f"secure config '{read.name}' could not be decrypted (no passphrase) and the program read "
                f"it with Config.{read.via}, which hands it a stand-in string, so the plan may not be "
                f"what would be deployed; set PULUMI_CONFIG_PASSPHRASE or read it with a secret getter "
                f"(get_secret, require_secret...)")
    if read.via == APPLY:
        return (f"invoke '{read.name}' has an unknown result offline (it has no documented placeholder, or an "
                f"argument is unknown until deployment), so an Output.apply callback on it did not run; a real "
                f"preview gets the function's answer and runs it, so what the callback registers or decides "
                f"would be deployed without being judged; register resources outside apply callbacks and pass "
                f"the function's Output to them as an input")
    return (f"invoke '{read.name}' has an unknown result offline (it has no documented placeholder, or an "
            f"argument is unknown until deployment) and the program took it as a plain value with "
            f"pulumi.runtime.{read.via}, which can't be unknown: it got a stand-in whose strings are unknown "
            f"and whose other values are empty, so the plan may not be what would be deployed; call the "
            f"function's *_output form (e.g. get_role_definition_output), whose Output stays unknown")


def plain_read_findings(reads: Iterable[PlainRead], *, root_urn: str, stack: str, unknowns: str) -> list[Finding]:
    """One indeterminate finding of crossgate's own per read, on the stack, naming what was read and
    the line; blocking unless ``--unknowns advisory``, as for policies."""
    level = Level.ADVISORY if unknowns == "advisory" else Level.MANDATORY
    name = urns.split(root_urn)[1] if root_urn else stack
    unique = sorted(set(reads), key=lambda r: (r.kind.value, r.name, r.via, r.source.line if r.source else 0))
    return [Finding(kind=FindingKind.INDETERMINATE, pack="crossgate", policy=PLAIN_READ_POLICIES[read.kind],
                    level=level, severity=Severity.HIGH, urn=root_urn, type=urns.ROOT_STACK_TYPE, name=name,
                    message=_plain_read_message(read), source=read.source)
            for read in unique]


class Collector:
    """Thread-safe sink for one run's resources, findings, remediations and errors."""

    def __init__(self, unknowns: str, *, own_findings: bool = True) -> None:
        """``own_findings`` False: crossgate's own findings (see :func:`plain_read_findings`) are not
        raised here but where the plan is judged (``preview --plan-out``)."""
        self.unknowns = unknowns
        self._own_findings = own_findings
        self._lock = threading.Lock()
        #: The stack's URN; findings on the stack (and AnalyzeStack's) belong to it.
        self.root_urn = ""
        self._warnings: list[str] = []
        self._invokes: list[InvokeAnswer] = []
        self._plain_reads: list[PlainRead] = []
        #: Why the program did not finish, as a plan records it: reported first; the resources it
        #: declared are still evaluated, the stack is not.
        self._program_errors: list[str] = []
        self._resources: list[PlannedResource] = []
        self._by_urn: dict[str, PlannedResource] = {}
        self._findings: list[tuple[Finding, Any]] = []  # (finding, the secrets scope of its text)
        self._remediations: list[Remediation] = []
        self._errors: list[str] = []
        self._details: list[str] = []
        self._packs: list[tuple[PackInfo, list[str]]] = []
        self.secrets = wire.Secrets()

    # -- what the run saw ---------------------------------------------------------------------

    def add_resource(self, resource: PlannedResource) -> None:
        inputs = MessageToDict(resource.properties) if resource.has_secrets else None
        with self._lock:
            self._resources.append(resource)
            self._by_urn[resource.urn] = resource
            if inputs is not None:
                self.secrets.add_resource(resource.urn, inputs)

    def add_pack(self, info: PackInfo, downgrades: list[str]) -> None:
        with self._lock:
            self._packs.append((info, downgrades))

    def program(self, *, root_urn: str, invokes: Iterable[InvokeAnswer] = (), warnings: Iterable[str] = (),
                plain_reads: Iterable[PlainRead] = (), errors: Iterable[str] = ()) -> None:
        """What the program's run (or the plan it wrote) told: its stack, invokes, warnings, the
        values unknown offline it took as plain values (each one blocks) and, from a plan, why the
        program did not finish (exit 2; its resources are still evaluated, the stack is not)."""
        with self._lock:
            self.root_urn = root_urn
            self._invokes.extend(invokes)
            self._warnings.extend(warnings)
            self._plain_reads.extend(plain_reads)
            self._program_errors.extend(errors)

    def warn(self, message: str) -> None:
        """One line the report's warnings must show (never blocking)."""
        with self._lock:
            self._warnings.append(message)

    def error(self, exc: GateError) -> None:
        """Why the evaluation could not complete (exit 2); each message once."""
        with self._lock:
            if exc.message not in self._errors:
                self._errors.append(exc.message)
                if exc.detail:
                    self._details.append(exc.detail)

    @property
    def failed(self) -> bool:
        """An evaluation error: what hasn't been evaluated yet is not."""
        return bool(self._errors)

    @property
    def program_failed(self) -> bool:
        """The plan says the program did not finish: the stack can't be judged as a whole."""
        return bool(self._program_errors)

    @property
    def resources(self) -> list[PlannedResource]:
        """The resources so far, in declaration order."""
        with self._lock:
            return sorted(self._resources, key=lambda r: r.order)

    # -- what packs answered ------------------------------------------------------------------

    def remediations(self, pack: Pack, resource: PlannedResource, props: struct_pb2.Struct,
                     response: analyzer_pb2.RemediateResponse) -> struct_pb2.Struct:
        """Record a Remediate reply; return the properties Analyze must see."""
        for rem in response.remediations:
            if rem.diagnostic:
                self._indeterminate(pack, rem.policyName, rem.diagnostic, resource.urn)
                continue
            if not rem.HasField("properties"):
                continue
            self._check_level(pack, rem.policyName, Level.REMEDIATE, pack.levels, "a remediation")
            original = MessageToDict(props)
            record = Remediation(pack=pack.name, policy=rem.policyName, urn=resource.urn, type=resource.type,
                                 name=resource.name, before=wire.redact(original),
                                 after=wire.redact_like(MessageToDict(rem.properties), original),
                                 message=rem.description)
            with self._lock:
                self._remediations.append(record)
            props = rem.properties
        for na in response.not_applicable:
            self._not_applicable(pack, na, resource.urn, pack.levels)
        return props

    def diagnostics(self, pack: Pack, response: analyzer_pb2.AnalyzeResponse, urn: str, *,
                    levels: Mapping[str, Level] | None = None, stack: bool = False) -> None:
        """Record an Analyze or AnalyzeStack reply. A diagnostic without a URN belongs to ``urn``
        (the resource, or the stack); ``levels`` are those the answering process was configured with."""
        levels = pack.levels if levels is None else levels
        scope = wire.ALL_RESOURCES if stack else None
        for diag in response.diagnostics:
            if diag.policyName not in pack.levels:
                raise PackError(f"policy pack {pack.name}: malformed reply: a diagnostic names policy "
                                f"'{diag.policyName}', which the pack did not declare")
            match = _CANT_RUN.match(diag.message) if not diag.urn else None
            if match:
                self._check_level(pack, diag.policyName, None, levels, "a diagnostic")
                # pulumi-policy always names itself v0.0.1; the engine names the pack by its
                # PulumiPolicy.yaml version, as the rest of the report does.
                message = (f"can't run {match['what']} '{match['policy']}' from policy pack "
                           f"'{pack.name}@v{pack.version}' during preview: {match['why']}")
                self._indeterminate(pack, diag.policyName or match["policy"], message, urn, scope)
                continue
            level = pack_config.level_from_proto(diag.enforcementLevel)
            self._check_level(pack, diag.policyName, level, levels, "a diagnostic")
            message = diag.message
            if diag.description and message.startswith(diag.description):
                message = message[len(diag.description):].lstrip("\n") or diag.description
            severity = pack_config.severity_from_proto(diag.severity) if diag.severity else None
            self._add(FindingKind.VIOLATION, pack, diag.policyName, level, severity, diag.urn or urn, message,
                      scope)
        for na in response.not_applicable:
            self._not_applicable(pack, na, urn, levels)

    def _check_level(self, pack: Pack, policy: str, level: Level | None, levels: Mapping[str, Level],
                     what: str) -> None:
        """A reply must match the level the gate configured; else someone else configured the pack.

        ``level`` None: any level but disabled (pulumi-policy sends "can't run" as advisory)."""
        configured = levels.get(policy)
        if configured is None:
            return  # an undeclared policy is reported as malformed by the caller
        if configured is Level.DISABLED or (level is not None and level is not _reported_level(configured)
                                             and not (level is Level.REMEDIATE and configured is Level.REMEDIATE)):
            got = "" if level is None else f" at level {level.value}"
            raise PackError(f"policy pack {pack.name}: {what} for '{policy}' came back{got}, but the gate "
                            f"configured it {configured.value}: something other than the gate reconfigured "
                            "the pack during the run")

    def _not_applicable(self, pack: Pack, na: analyzer_pb2.PolicyNotApplicable, urn: str,
                        levels: Mapping[str, Level]) -> None:
        self._check_level(pack, na.policy_name, None, levels, "a not-applicable answer")
        self._add(FindingKind.NOT_APPLICABLE, pack, na.policy_name, pack.levels.get(na.policy_name, Level.ADVISORY),
                  None, urn, na.reason or "not applicable")

    def _indeterminate(self, pack: Pack, policy: str, message: str, urn: str, scope: Any = None) -> None:
        resolved = pack.levels.get(policy, Level.ADVISORY)
        if self.unknowns == "advisory":
            level = Level.ADVISORY  # what `pulumi preview` does: a warning only
        else:
            level = Level.MANDATORY if resolved.blocks else resolved
        self._add(FindingKind.INDETERMINATE, pack, policy, level, None, urn, message, scope)

    def _add(self, kind: FindingKind, pack: Pack, policy: str, level: Level, severity: Severity | None,
             urn: str, message: str, scope: Any = None) -> None:
        resource = self._by_urn.get(urn)
        rtype, rname = (resource.type, resource.name) if resource else urns.split(urn)
        if severity is None or severity is Severity.UNSPECIFIED:
            info = pack.info.policy(policy) if pack.info else None
            severity = info.severity if info else Severity.UNSPECIFIED
        finding = Finding(kind=kind, pack=pack.name, policy=policy, level=level, severity=severity, urn=urn,
                          type=rtype, name=rname, message=message,
                          source=resource.source if resource else None)
        with self._lock:
            self._findings.append((finding, urn if scope is None else scope))

    # -- the result ---------------------------------------------------------------------------

    def build(self, subject: Subject, *, packs: Iterable[Pack] = (), waivers: str | None = None,
              today: dt.date | None = None, deadline: float | None = None, secret_values: Iterable[str] = (),
              duration: float = 0.0) -> GateResult:
        """The run's one result, built once and frozen: ordered, crossgate's own findings first, waivers
        applied, and every secret value (those collected, and ``secret_values`` known before the run)
        replaced in everything a reporter could print."""
        for value in secret_values:
            self.secrets.add_value(value)
        hide = _Redaction(self.secrets)
        with self._lock:
            root_urn = self.root_urn
            # Worded from the redacted reads: a short secret that fills a segment of an invoke token
            # is hidden there, and the message could no longer tell it from the rest.
            own = plain_read_findings([hide.plain_read(r) for r in self._plain_reads], root_urn=root_urn,
                                      stack=subject.stack, unknowns=self.unknowns) if self._own_findings else []
            findings = [*own, *(finding for finding, _ in self._findings)]
            scopes = [f.urn for f in own] + [scope for _, scope in self._findings]
            resources = sorted(self._resources, key=lambda r: r.order)
            infos = [info for info, _ in self._packs]
            downgrades = [note for _, notes in self._packs for note in notes]
            remediations = list(self._remediations)
            errors = [*self._program_errors, *(e for e in self._errors if e not in self._program_errors)]
            details = list(self._details)
            warnings, invokes, plain_reads = list(self._warnings), list(self._invokes), list(self._plain_reads)
        expired: tuple = ()
        unused: tuple = ()
        try:
            applied = self._waive(subject, findings, infos, packs, waivers, today, deadline)
        except GateError as exc:
            errors.append(exc.message)
            if exc.detail:
                details.append(exc.detail)
        else:
            if applied is not None:
                findings, expired, unused = list(applied.findings), applied.expired, applied.unused
        if len(scopes) != len(findings):  # waivers keep findings in place; if not, assume the worst
            scopes = [wire.ALL_RESOURCES] * len(findings)
        findings = [hide.finding(f, scope) for f, scope in zip(findings, scopes)]
        findings.sort(key=lambda f: (f.pack, f.kind.value, f.urn, f.policy, f.message))
        return GateResult(
            project=subject.project, stack=subject.stack, project_dir=subject.project_dir,
            resources=tuple(hide.resource(r) for r in resources), packs=tuple(infos), findings=tuple(findings),
            remediations=tuple(hide.remediation(r) for r in remediations),
            invokes=tuple(hide.invoke(i) for i in invokes),
            warnings=tuple(hide.everywhere(w) for w in warnings),
            plain_reads=tuple(hide.plain_read(r) for r in plain_reads),
            errors=tuple(hide.everywhere(e) for e in errors),
            error_details=tuple(hide.everywhere(d) for d in details), downgrades=tuple(downgrades),
            unused_waivers=tuple(hide.waiver(w) for w in unused), expired_waivers=tuple(hide.waiver(w) for w in expired),
            unknowns_mode=self.unknowns, origin=subject.origin, root_urn=hide.urn(root_urn) if root_urn else root_urn,
            duration_seconds=duration)

    @staticmethod
    def _waive(subject: Subject, findings: list[Finding], infos: list[PackInfo], packs: Iterable[Pack],
               path: str | None, today: dt.date | None, deadline: float | None) -> waivers_module.Applied | None:
        path = path or (str(default_waivers_path(subject.project_dir) or "") or None)
        if not path or not infos:
            return None
        loaded = load_waivers(path, deadline=deadline)
        settings = {p.name: p.settings for p in packs if p.info is not None}
        return waivers_module.apply(findings, infos, loaded, today=today or today_utc(), settings=settings,
                                    where=f"waivers file {path}", deadline=deadline)


class _Redaction:
    """Replaces every secret value in what a reporter prints, in one place; with no secret known,
    everything passes through unchanged."""

    def __init__(self, secrets: wire.Secrets) -> None:
        self.secrets = secrets
        self.active = bool(secrets)

    def type_(self, value: str) -> str:
        """A (qualified) type: a program can build a type or an invoke token from a secret too.
        Long secrets anywhere, short ones where they fill a whole segment between ``:`` and ``$``."""
        secrets = self.secrets
        return "".join(secrets.text(part) for part in re.split(r"([:$])", secrets.text(value)))

    def urn(self, value: str) -> str:
        if not self.active:
            return value
        parsed = urns.parse(value)
        if parsed is None:
            return self.secrets.text(value)
        return (f"{urns.PREFIX}{parsed.stack}{urns.SEP}{parsed.project}{urns.SEP}{self.type_(parsed.qualified_type)}"
                f"{urns.SEP}{self.secrets.text(parsed.name)}")

    def _ref(self, value: str | None) -> str | None:
        if not value:
            return value
        head, sep, tail = value.rpartition(urns.SEP)
        return self.urn(value) if not sep or not urns.parse(head) else self.urn(head) + sep + tail

    def _blinded(self, props: struct_pb2.Struct | None) -> struct_pb2.Struct | None:
        """Wire-format properties with every secret an unknown secret and known values replaced."""
        if props is None:
            return props
        raw = props.SerializeToString()
        if _SECRET_SIG not in raw and not self.secrets.has_any(raw):
            return props
        out = struct_pb2.Struct()
        out.update(self.secrets.value(wire.blind(MessageToDict(props))))
        return out

    def resource(self, resource: PlannedResource) -> PlannedResource:
        if not self.active:
            return resource
        text = self.secrets.text
        return dataclasses.replace(
            resource, urn=self.urn(resource.urn), type=self.type_(resource.type), name=text(resource.name),
            properties=self._blinded(resource.properties), provider_inputs=self._blinded(resource.provider_inputs),
            parent=self._ref(resource.parent), provider=self._ref(resource.provider),
            dependencies=tuple(self.urn(d) for d in resource.dependencies),
            property_dependencies={k: tuple(self.urn(d) for d in v) for k, v in resource.property_dependencies.items()})

    def finding(self, finding: Finding, scope: Any) -> Finding:
        if not self.active:
            return finding
        waiver = finding.waiver
        if waiver is not None:
            waiver = self.waiver(waiver)
        return dataclasses.replace(
            finding, urn=self.urn(finding.urn), type=self.type_(finding.type), name=self.secrets.text(finding.name),
            message=self.secrets.text(finding.message, scope), waiver=waiver)

    def remediation(self, rem: Remediation) -> Remediation:
        if not self.active:
            return rem
        secrets = self.secrets
        return dataclasses.replace(
            rem, urn=self.urn(rem.urn), type=self.type_(rem.type), name=secrets.text(rem.name),
            message=secrets.text(rem.message, rem.urn), before=secrets.value(dict(rem.before), rem.urn),
            after=secrets.value(dict(rem.after), rem.urn))

    def invoke(self, answer: InvokeAnswer) -> InvokeAnswer:
        return dataclasses.replace(answer, token=self.type_(answer.token)) if self.active else answer

    def plain_read(self, read: PlainRead) -> PlainRead:
        return dataclasses.replace(read, name=self.type_(read.name)) if self.active else read

    def waiver(self, waiver: Waiver) -> Waiver:
        return dataclasses.replace(waiver, resource=self.secrets.text(waiver.resource)) if self.active else waiver

    def everywhere(self, text: str) -> str:
        return self.secrets.text(text, wire.ALL_RESOURCES) if self.active else text
