"""Turns what packs answer into findings, and builds the run's one result.

Worker threads hand every reply to a :class:`Collector`; nothing else records findings. Each reply
is checked against the levels the gate configured (see :mod:`crossgate.packs.pool`): a diagnostic,
remediation or not-applicable outcome from a policy the gate disabled, or a diagnostic at another
level than the gate configured, means something other than the gate configured the pack, and the
run cannot be trusted (exit 2). :meth:`Collector.build` then produces the :class:`GateResult`
once, single-threaded: ordered, waivers applied, and every secret value replaced in everything a
reporter could print.
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
from . import wire
from .errors import GateError, PackError
from .model import (Finding, FindingKind, GateResult, Level, PackInfo, PlainRead, PlainReadKind, PlannedResource,
                    Remediation, Severity)
from .packs import config as pack_config
from .packs.pool import Pack
from .waivers import apply as apply_waivers
from .waivers import default_waivers_path, load_waivers, today_utc

_SECRET_SIG = wire.SECRET_SIG.encode()
# pulumi-policy's wording when a policy touched a value that is unknown during preview.
_CANT_RUN = re.compile(r"^can't run (?P<what>policy|remediation) '(?P<policy>[^']+)' from policy pack '[^']*' "
                       r"during preview: (?P<why>.*)$", re.S)


def _reported_level(configured: Level) -> Level:
    # pulumi-policy reports a remediate-level policy's remaining violation as mandatory.
    return Level.MANDATORY if configured is Level.REMEDIATE else configured


#: crossgate's own policies (pack ``crossgate``): a value unknown offline that the program took as a plain value.
PLAIN_READ_POLICIES = {
    PlainReadKind.SECURE_CONFIG: "secure-config-read-as-plain-value",
    PlainReadKind.INVOKE: "invoke-result-read-as-plain-value",
}


def _plain_read_message(read: PlainRead) -> str:
    if read.kind is PlainReadKind.SECURE_CONFIG:
        return (f"secure config '{read.name}' could not be decrypted (no passphrase) and the program read "
                f"it with Config.{read.via}, which hands it a stand-in string, so the plan may not be "
                f"what would be deployed; set PULUMI_CONFIG_PASSPHRASE or read it with a secret getter "
                f"(get_secret, require_secret...)")
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

    def __init__(self, unknowns: str) -> None:
        self.unknowns = unknowns
        self._lock = threading.Lock()
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

    def error(self, exc: GateError) -> None:
        with self._lock:
            if exc.message not in self._errors:
                self._errors.append(exc.message)
                if exc.detail:
                    self._details.append(exc.detail)

    @property
    def failed(self) -> bool:
        return bool(self._errors)

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

    def build(self, header: GateResult, *, packs: Iterable[Pack] = (), waivers: str | None = None,
              today: dt.date | None = None, deadline: float | None = None) -> GateResult:
        """Fill ``header`` (project, stack, origin...) with everything collected, once: ordered,
        waivers applied, secrets replaced. Returns ``header``."""
        with self._lock:
            # Whatever the caller put in the header already (findings about the program itself,
            # errors before the run) comes first and is kept.
            result = header
            result.resources = sorted([*result.resources, *self._resources], key=lambda r: r.order)
            result.packs = [*result.packs, *(info for info, _ in self._packs)]
            result.downgrades = [*result.downgrades, *(note for _, notes in self._packs for note in notes)]
            scopes = [f.urn for f in result.findings] + [scope for _, scope in self._findings]
            result.findings = [*result.findings, *(finding for finding, _ in self._findings)]
            result.remediations = [*result.remediations, *self._remediations]
            result.errors = [*result.errors, *(e for e in self._errors if e not in result.errors)]
            result.error_details = [*result.error_details, *self._details]
        self._apply_waivers(result, packs, waivers, today, deadline)
        for value in header.secret_values:
            self.secrets.add_value(value)
        result = _redact(result, self.secrets, scopes)
        result.findings.sort(key=lambda f: (f.pack, f.kind.value, f.urn, f.policy, f.message))
        return result

    def _apply_waivers(self, result: GateResult, packs: Iterable[Pack], path: str | None,
                       today: dt.date | None, deadline: float | None) -> None:
        path = path or (str(default_waivers_path(result.project_dir) or "") or None)
        if not path or not result.packs:
            return
        try:
            loaded = load_waivers(path, deadline=deadline)
            settings = {p.name: p.settings for p in packs if p.info is not None}
            apply_waivers(result, loaded, today=today or today_utc(), settings=settings, where=f"waivers file {path}",
                          deadline=deadline)
        except GateError as exc:
            result.errors.append(exc.message)
            if exc.detail:
                result.error_details.append(exc.detail)


def _redact(result: GateResult, secrets: wire.Secrets, scopes: list[Any]) -> GateResult:
    """Replace every secret value in everything a reporter prints, in one place."""
    result.secret_values = set()  # reporters need not scrub again
    if not secrets:
        return result

    def type_(value: str) -> str:
        """A (qualified) type: a program can build a type or an invoke token from a secret too.
        Long secrets anywhere, short ones where they fill a whole segment between ``:`` and ``$``."""
        return "".join(secrets.text(part) for part in re.split(r"([:$])", secrets.text(value)))

    def urn(value: str) -> str:
        parsed = urns.parse(value)
        if parsed is None:
            return secrets.text(value)
        return (f"{urns.PREFIX}{parsed.stack}{urns.SEP}{parsed.project}{urns.SEP}{type_(parsed.qualified_type)}"
                f"{urns.SEP}{secrets.text(parsed.name)}")

    def ref(value: str | None) -> str | None:
        if not value:
            return value
        head, sep, tail = value.rpartition(urns.SEP)
        return urn(value) if not sep or not urns.parse(head) else urn(head) + sep + tail

    def blinded(props: struct_pb2.Struct | None) -> struct_pb2.Struct | None:
        """Wire-format properties with every secret an unknown secret and known values replaced."""
        if props is None:
            return props
        raw = props.SerializeToString()
        if _SECRET_SIG not in raw and not secrets.has_any(raw):
            return props
        out = struct_pb2.Struct()
        out.update(secrets.value(wire.blind(MessageToDict(props))))
        return out

    resources = []
    for resource in result.resources:
        props = blinded(resource.properties)
        provider_inputs = blinded(resource.provider_inputs)
        resources.append(dataclasses.replace(
            resource, urn=urn(resource.urn), type=type_(resource.type), name=secrets.text(resource.name),
            properties=props,
            provider_inputs=provider_inputs,
            parent=ref(resource.parent), provider=ref(resource.provider),
            dependencies=tuple(urn(d) for d in resource.dependencies),
            property_dependencies={k: tuple(urn(d) for d in v) for k, v in resource.property_dependencies.items()}))
    result.resources = resources

    findings = []
    if len(scopes) != len(result.findings):  # waivers keep findings in place; if not, assume the worst
        scopes = [wire.ALL_RESOURCES] * len(result.findings)
    for finding, scope in zip(result.findings, scopes):
        waiver = finding.waiver
        if waiver is not None:
            waiver = dataclasses.replace(waiver, resource=secrets.text(waiver.resource))
        findings.append(dataclasses.replace(
            finding, urn=urn(finding.urn), type=type_(finding.type), name=secrets.text(finding.name),
            message=secrets.text(finding.message, scope), waiver=waiver))
    result.findings = findings
    result.remediations = [dataclasses.replace(
        r, urn=urn(r.urn), type=type_(r.type), name=secrets.text(r.name), message=secrets.text(r.message, r.urn),
        before=secrets.value(dict(r.before), r.urn), after=secrets.value(dict(r.after), r.urn))
        for r in result.remediations]
    result.invokes = [dataclasses.replace(i, token=type_(i.token)) for i in result.invokes]
    everywhere = wire.ALL_RESOURCES
    result.warnings = [secrets.text(w, everywhere) for w in result.warnings]
    result.errors = [secrets.text(e, everywhere) for e in result.errors]
    result.error_details = [secrets.text(d, everywhere) for d in result.error_details]
    result.unused_waivers = [dataclasses.replace(w, resource=secrets.text(w.resource)) for w in result.unused_waivers]
    result.expired_waivers = [dataclasses.replace(w, resource=secrets.text(w.resource)) for w in result.expired_waivers]
    result.root_urn = urn(result.root_urn) if result.root_urn else result.root_urn
    return result
