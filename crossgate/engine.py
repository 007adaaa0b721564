"""The gate: run the program, drive every policy pack as the Pulumi engine does, decide.

Order, per pack (see ``ENGINE.md``): ConfigureStack, GetAnalyzerInfo, config reconciliation,
Configure; then per resource Remediate (one pack at a time) and Analyze on the remediated
properties; finally AnalyzeStack over everything. Packs start while the program runs, resources are
analysed as they register, and each pack may run in several processes to use every core.

Anything that prevents a complete evaluation is recorded in ``GateResult.errors`` (exit 2), and what
was evaluated up to then is still reported.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import analyzer_pb2

from . import wire
from .errors import GateError, InputError, PackError
from .model import (Finding, FindingKind, GateResult, Level, PackInfo, PlannedResource, PolicyInfo,
                    Remediation, Severity)
from .packs import config as pack_config
from .packs.settings import GateSettings
from .packs.process import PackManifest, PackProcess, StackIdentity, read_manifest
from .program.runner import plain_secret_findings, run_program
from .project import load_project, load_stack_config
from .waivers import apply as apply_waivers
from .waivers import default_waivers_path, load_waivers, today_utc

# pulumi-policy's wording when a policy touched a value that is unknown during preview.
_CANT_RUN = re.compile(r"^can't run (?:policy|remediation) '(?P<policy>[^']+)' from policy pack '[^']*' "
                       r"during preview: (?P<why>.*)$", re.S)
_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_LOW: Severity.LOW,
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: Severity.MEDIUM,
    analyzer_pb2.POLICY_SEVERITY_HIGH: Severity.HIGH,
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: Severity.CRITICAL,
}
_KIND = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class PackSpec:
    """A pack to evaluate: its directory and the config files that belong to it, in order."""

    path: str
    config_files: list[str] = field(default_factory=list)


@dataclass
class GateOptions:
    packs: list[PackSpec] = field(default_factory=list)
    unknowns: str = "block"  # or "advisory", the Pulumi engine's behaviour
    timeout: float = 600.0
    call_timeout: float = 60.0
    parallel: int = 0  # processes per pack; 0 = number of cores
    #: Called with a short status line as work progresses (the CLI draws a progress indicator).
    progress: Callable[[str, int, int], None] | None = None
    #: Waivers file; None means ``policy-waivers.yaml`` in the project, if it exists.
    waivers: str | None = None
    #: The day waivers are judged against (UTC). Injectable for tests only; never from the environment.
    today: dt.date | None = None
    #: Outputs per URN for AnalyzeStack when they differ from the inputs (a stack export's state).
    stack_outputs: dict[str, struct_pb2.Struct] = field(default_factory=dict)


def pack_specs(packs: Sequence[str], configs: Sequence[str]) -> list[PackSpec]:
    """Pair packs with config files as the CLI does: the i-th config belongs to the i-th pack."""
    if configs and len(configs) != len(packs):
        raise InputError(f"{len(configs)} --policy-pack-config for {len(packs)} --policy-pack: as in the "
                         "Pulumi CLI, the i-th config belongs to the i-th pack, so the counts must match")
    return [PackSpec(path=p, config_files=[configs[i]] if configs else []) for i, p in enumerate(packs)]


def split_urn(urn: str) -> tuple[str, str]:
    """(type, name) from a URN; the type is the last element of the qualified type."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], "::".join(parts[3:])


class _Pack:
    """A pack's processes and its resolved configuration."""

    def __init__(self, manifest: PackManifest, config_layers: list[tuple[str, pack_config.PackConfig]],
                 identity: StackIdentity, processes: int, call_timeout: float) -> None:
        self.manifest = manifest
        self.config_layers = config_layers
        self.procs = [PackProcess(manifest, identity, call_timeout=call_timeout) for _ in range(processes)]
        self.pool: "queue.Queue[PackProcess]" = queue.Queue()
        self.ready = threading.Event()
        self.error: GateError | None = None
        self.info: PackInfo | None = None
        self.name = manifest.path.name
        self.levels: dict[str, Level] = {}
        self.has_remediations = False
        self.downgrades: list[str] = []
        self.settings = GateSettings()
        self.resolved: dict[str, pack_config.ResolvedPolicyConfig] = {}
        self.kinds: dict[str, str] = {}

    def start(self, deadline: float) -> None:
        """Start every process and configure it; record an error instead of raising."""
        try:
            with concurrent.futures.ThreadPoolExecutor(len(self.procs)) as ex:
                list(ex.map(lambda p: p.start(deadline), self.procs))
            first = self.procs[0]
            first.configure_stack()
            info = first.analyzer_info()
            self.name = info.name or self.name
            label = f"{self.name} {self.manifest.version or info.version}".strip()
            layers = [(f"{label} initialConfig", pack_config.initial_config(info)), *self.config_layers]
            reconciled = pack_config.reconcile(info, layers, label)
            self.downgrades = reconciled.check_downgrades()
            self.settings = reconciled.settings
            resolved = reconciled.policies
            request = pack_config.configure_request(resolved)
            for proc in self.procs[1:]:
                proc.configure_stack()
            for proc in self.procs:
                proc.call("Configure", request)
                self.pool.put(proc)
            self.resolved = resolved
            self.kinds = {p.name: _KIND.get(p.policy_type, "resource") for p in info.policies}
            self.levels = {name: cfg.level for name, cfg in resolved.items()}
            self.has_remediations = any(level is Level.REMEDIATE for level in self.levels.values())
            self.info = _pack_info(info, self.manifest, resolved)
        except GateError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            self.error = PackError(f"policy pack {self.manifest.path.name}: {type(exc).__name__}: {exc}")
        finally:
            self.ready.set()

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest, timeout: float
                      ) -> list[analyzer_pb2.AnalyzeResponse]:
        """AnalyzeStack, with the stack policies shared out among the pack's processes.

        pulumi-policy deserialises every resource once per stack policy, so on a large stack this
        pass dominates. Once per-resource analysis is over, each process is reconfigured to run
        only its share of the stack policies (the others disabled), and all run at once.
        """
        stack_policies = [name for name, kind in self.kinds.items()
                          if kind == "stack" and self.levels.get(name) is not Level.DISABLED]
        procs = self.procs[:max(1, min(len(self.procs), len(stack_policies)))]
        if len(procs) == 1:
            return [procs[0].call("AnalyzeStack", request, timeout=timeout)]
        shares = [stack_policies[i::len(procs)] for i in range(len(procs))]

        def run(proc: PackProcess, share: list[str]) -> analyzer_pb2.AnalyzeResponse:
            levels = {name: (level if self.kinds[name] != "stack" or name in share else Level.DISABLED)
                      for name, level in self.levels.items()}
            proc.call("Configure", pack_config.configure_request(self.resolved, levels), timeout=timeout)
            return proc.call("AnalyzeStack", request, timeout=timeout)

        with concurrent.futures.ThreadPoolExecutor(len(procs)) as ex:
            return list(ex.map(run, procs, shares))

    def call(self, method: str, request: Any, timeout: float) -> Any:
        proc = self.pool.get()
        try:
            return proc.call(method, request, timeout=timeout)
        finally:
            self.pool.put(proc)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def _pack_info(info: analyzer_pb2.AnalyzerInfo, manifest: PackManifest,
               resolved: dict[str, pack_config.ResolvedPolicyConfig]) -> PackInfo:
    policies = []
    for p in sorted(info.policies, key=lambda p: p.name):
        cfg = resolved[p.name]
        policies.append(PolicyInfo(
            name=p.name,
            description=p.description,
            kind=_KIND.get(p.policy_type, "resource"),
            enforcement_level=cfg.level,
            default_level=cfg.default_level,
            severity=_SEVERITY.get(p.severity, Severity.UNSPECIFIED),
            display_name=p.displayName,
            framework={k: v for k, v in MessageToDict(p.framework).items()} if p.HasField("framework") else {},
            tags=tuple(p.tags),
            remediation=p.remediation_steps,
            url=p.url,
            config=dict(cfg.properties),
            config_schema=pack_config.schema_of(p),
        ))
    return PackInfo(name=info.name, version=manifest.version or info.version, path=str(manifest.path),
                    policies=tuple(policies), description=info.description or manifest.description)


class Gate:
    """Evaluates planned resources against packs. Feed resources with :meth:`submit`, then :meth:`finish`."""

    def __init__(self, result: GateResult, options: GateOptions, identity: StackIdentity) -> None:
        self.result = result
        self.options = options
        self.identity = identity
        self.deadline = time.monotonic() + options.timeout
        self._lock = threading.Lock()
        self._packs: list[_Pack] = []
        self._futures: list[concurrent.futures.Future[None]] = []
        self._final_props: dict[str, struct_pb2.Struct] = {}
        self._by_urn: dict[str, PlannedResource] = {}
        processes = options.parallel or os.cpu_count() or 1
        self._manifests = self._load_manifests()
        for manifest, layers in self._manifests:
            self._packs.append(_Pack(manifest, layers, identity, processes, options.call_timeout))
        workers = max(2, processes * max(1, len(self._packs)) * 2)
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="crossgate")
        self._done_count = 0

    def _load_manifests(self) -> list[tuple[PackManifest, list[tuple[str, pack_config.PackConfig]]]]:
        loaded = []
        for spec in self.options.packs:
            manifest = read_manifest(spec.path)
            layers = [(f"--policy-pack-config {f}", pack_config.load_config_file(f)) for f in spec.config_files]
            loaded.append((manifest, layers))
        return loaded

    def start(self) -> None:
        for pack in self._packs:
            threading.Thread(target=pack.start, args=(self.deadline,), daemon=True,
                             name=f"start-{pack.manifest.path.name}").start()

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise PackError("timed out evaluating policies (raise --timeout)")
        return min(remaining, self.options.call_timeout)

    def _wait_ready(self, pack: _Pack) -> bool:
        # A little grace past the deadline lets a pack's own start-up error (which names the
        # cause) be reported rather than a bare timeout.
        if not pack.ready.wait(max(0.0, self.deadline - time.monotonic()) + 2.0):
            raise PackError(f"policy pack {pack.manifest.path.name}: timed out starting")
        return pack.error is None

    # -- per resource ----------------------------------------------------------------------

    def submit(self, resource: PlannedResource) -> None:
        secrets = wire.secret_strings(MessageToDict(resource.properties)) if resource.has_secrets else set()
        with self._lock:
            self.result.resources.append(resource)
            self._by_urn[resource.urn] = resource
            self.result.secret_values |= secrets
        if not self._packs:
            return
        self._futures.append(self._executor.submit(self._analyze_resource, resource))

    def _analyze_resource(self, resource: PlannedResource) -> None:
        if self.result.errors:
            return
        try:
            props = resource.properties
            for pack in self._packs:
                if not self._wait_ready(pack) or not pack.has_remediations:
                    continue
                response = pack.call("Remediate", _analyze_request(resource, props), self._remaining())
                props = self._record_remediations(pack, resource, props, response)
            self._final_props[resource.urn] = props
            for pack in self._packs:
                if not self._wait_ready(pack):
                    continue
                response = pack.call("Analyze", _analyze_request(resource, props), self._remaining())
                self._record_diagnostics(pack, response, resource.urn)
        except GateError as exc:
            self.record_error(exc)
        except Exception as exc:  # noqa: BLE001
            self.record_error(PackError(f"evaluating {resource.urn}: {type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._done_count += 1
                done = self._done_count
            if self.options.progress:
                self.options.progress("analyzed", done, len(self._futures))

    def record_error(self, exc: GateError) -> None:
        with self._lock:
            if exc.message not in self.result.errors:
                self.result.errors.append(exc.message)
                if exc.detail:
                    self.result.error_details.append(exc.detail)

    def _record_remediations(self, pack: _Pack, resource: PlannedResource, props: struct_pb2.Struct,
                             response: analyzer_pb2.RemediateResponse) -> struct_pb2.Struct:
        for rem in response.remediations:
            if rem.diagnostic:
                self._add_indeterminate(pack, rem.policyName, rem.diagnostic, resource.urn)
                continue
            if not rem.HasField("properties"):
                continue
            original = MessageToDict(props)
            before = wire.redact(original)
            after = wire.redact_like(MessageToDict(rem.properties), original)
            with self._lock:
                self.result.remediations.append(Remediation(
                    pack=pack.name, policy=rem.policyName, urn=resource.urn, type=resource.type,
                    name=resource.name, before=before, after=after, message=rem.description))
            props = rem.properties
        for na in response.not_applicable:
            self._add_not_applicable(pack, na, resource.urn)
        return props

    def _record_diagnostics(self, pack: _Pack, response: analyzer_pb2.AnalyzeResponse, urn: str) -> None:
        """Record a response; a diagnostic without a URN belongs to ``urn`` (the resource, or the stack)."""
        for diag in response.diagnostics:
            if diag.policyName not in pack.levels:
                raise PackError(f"policy pack {pack.name}: malformed reply: a diagnostic names policy "
                                f"'{diag.policyName}', which the pack did not declare")
            match = _CANT_RUN.match(diag.message) if not diag.urn else None
            if match:
                self._add_indeterminate(pack, diag.policyName or match["policy"], diag.message, urn)
                continue
            level = pack_config.level_from_proto(diag.enforcementLevel)
            message = diag.message
            if diag.description and message.startswith(diag.description):
                message = message[len(diag.description):].lstrip("\n") or diag.description
            self._add(FindingKind.VIOLATION, pack, diag.policyName, level,
                      _SEVERITY.get(diag.severity), diag.urn or urn, message)
        for na in response.not_applicable:
            self._add_not_applicable(pack, na, urn)

    def _add_not_applicable(self, pack: _Pack, na: analyzer_pb2.PolicyNotApplicable, urn: str) -> None:
        self._add(FindingKind.NOT_APPLICABLE, pack, na.policy_name, pack.levels.get(na.policy_name, Level.ADVISORY),
                  None, urn, na.reason or "not applicable")

    def _add_indeterminate(self, pack: _Pack, policy: str, message: str, urn: str) -> None:
        resolved = pack.levels.get(policy, Level.ADVISORY)
        if self.options.unknowns == "advisory":
            level = Level.ADVISORY  # what `pulumi preview` does: a warning only
        else:
            level = Level.MANDATORY if resolved.blocks else resolved
        self._add(FindingKind.INDETERMINATE, pack, policy, level, None, urn, message)

    def _add(self, kind: FindingKind, pack: _Pack, policy: str, level: Level, severity: Severity | None,
             urn: str, message: str) -> None:
        resource = self._by_urn.get(urn)
        rtype, rname = (resource.type, resource.name) if resource else split_urn(urn)
        if severity is None or severity is Severity.UNSPECIFIED:
            info = pack.info.policy(policy) if pack.info else None
            severity = info.severity if info else Severity.UNSPECIFIED
        finding = Finding(kind=kind, pack=pack.name, policy=policy, level=level, severity=severity, urn=urn,
                          type=rtype, name=rname, message=message,
                          source=resource.source if resource else None)
        with self._lock:
            self.result.findings.append(finding)

    # -- the end ---------------------------------------------------------------------------

    def finish(self, program_ok: bool) -> None:
        """Wait for per-resource work, run AnalyzeStack if everything so far succeeded, stop packs."""
        try:
            # Packs first: a pack's own start-up error names the cause better than a timeout.
            for pack in self._packs:
                try:
                    self._wait_ready(pack)
                except GateError as exc:
                    self.record_error(exc)
                if pack.error is not None:
                    self.record_error(pack.error)
                elif pack.info is not None:
                    self.result.packs.append(pack.info)
                    self.result.downgrades.extend(pack.downgrades)
                    self.result.warnings.extend(dict.fromkeys(
                        p.fallback_warning for p in pack.procs if p.fallback_warning))
            for future in list(self._futures):
                remaining = max(0.0, self.deadline - time.monotonic())
                try:
                    future.result(timeout=remaining)
                except concurrent.futures.TimeoutError:
                    self.record_error(PackError("timed out evaluating policies (raise --timeout)"))
                    break
            if program_ok and not self.result.errors and self._packs:
                self._analyze_stack()
        except GateError as exc:
            self.record_error(exc)
        except Exception as exc:  # noqa: BLE001 - never lose the reports of what was evaluated
            self.record_error(PackError(f"evaluating the stack: {type(exc).__name__}: {exc}"))
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            for pack in self._packs:
                pack.stop()
            self.result.resources.sort(key=lambda r: r.order)
            self._apply_waivers()
            self.result.scrub_secrets()
            self.result.findings.sort(key=lambda f: (f.pack, f.kind.value, f.urn, f.policy, f.message))

    def _apply_waivers(self) -> None:
        path = self.options.waivers or (str(default_waivers_path(self.result.project_dir) or "") or None)
        if not path or not self.result.packs:
            return
        try:
            waivers = load_waivers(path, deadline=self.deadline)
            settings = {p.name: p.settings for p in self._packs if p.info is not None}
            apply_waivers(self.result, waivers, today=self.options.today or today_utc(), settings=settings,
                          where=f"waivers file {path}", deadline=self.deadline)
        except GateError as exc:
            self.record_error(exc)

    def _analyze_stack(self) -> None:
        request = analyzer_pb2.AnalyzeStackRequest()
        for resource in self.result.resources:
            props = self.options.stack_outputs.get(resource.urn) or self._final_props.get(
                resource.urn, resource.properties)
            item = request.resources.add(type=resource.type, urn=resource.urn, name=resource.name,
                                         parent=resource.parent or "", dependencies=list(resource.dependencies))
            item.properties.CopyFrom(props)
            _set_options(item.options, resource)
            for key, urns in resource.property_dependencies.items():
                item.propertyDependencies[key].urns.extend(urns)
            _set_provider(item, resource)
        for pack in self._packs:
            try:
                responses = pack.analyze_stack(request, max(0.1, self.deadline - time.monotonic()))
            except GateError as exc:
                self.record_error(exc)
                return
            try:
                for response in responses:
                    self._record_diagnostics(pack, response, self.result.root_urn)
            except GateError as exc:
                self.record_error(exc)


def _set_provider(item: Any, resource: PlannedResource) -> None:
    if not resource.provider:
        return
    urn = resource.provider.rsplit("::", 1)[0]
    ptype, pname = split_urn(urn)
    item.provider.type = ptype
    item.provider.urn = urn
    item.provider.name = pname
    if resource.provider_inputs is not None:
        item.provider.properties.CopyFrom(resource.provider_inputs)


def _set_options(options: analyzer_pb2.AnalyzerResourceOptions, resource: PlannedResource) -> None:
    """The options the engine sends (``marshalResourceOptions`` in ``analyzer_plugin.go``). Aliases
    are dropped before registration (see the README) and so never sent."""
    options.protect = resource.protect
    options.parent = resource.parent or ""
    options.ignoreChanges.extend(resource.ignore_changes)
    options.deleteBeforeReplaceDefined = resource.delete_before_replace is not None
    options.deleteBeforeReplace = bool(resource.delete_before_replace)
    options.additionalSecretOutputs.extend(resource.additional_secret_outputs)
    # The engine always sends customTimeouts, in seconds (zero when unset).
    options.customTimeouts.SetInParent()
    for key, seconds in resource.custom_timeouts.items():
        setattr(options.customTimeouts, key, seconds)


def _analyze_request(resource: PlannedResource, props: struct_pb2.Struct) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(type=resource.type, urn=resource.urn, name=resource.name)
    request.properties.CopyFrom(props)
    _set_options(request.options, resource)
    _set_provider(request, resource)
    return request


def preview(cwd: str, stack: str, options: GateOptions, *,
            stack_reference_outputs: dict[str, dict[str, Any]] | None = None,
            allow_remote_components: Sequence[str] = ()) -> GateResult:
    """Run the program at ``cwd`` offline and evaluate ``options.packs`` against it.

    ``allow_remote_components``: component types the user accepts although their children can't be
    seen offline (each is reported); any other remote component is an error.
    """
    started = time.monotonic()
    result = GateResult(project="", stack=stack, project_dir=os.path.abspath(cwd), unknowns_mode=options.unknowns)
    try:
        project = load_project(cwd)
        result.project, result.project_dir = project.name, str(project.root)
        config = load_stack_config(project, stack)
        short = stack.rsplit("/", 1)[-1]
        identity = StackIdentity(
            project=project.name, stack=short, config=config.plain(),
            secret_keys=tuple(k for k, v in config.values.items() if v.secret),
            tags={"pulumi:project": project.name, "pulumi:runtime": "python"})
        result.secret_values |= config.secret_values()
        gate = Gate(result, options, identity)
    except GateError as exc:
        result.errors.append(exc.message)
        return result

    if config.undecrypted:
        result.warnings.append(
            f"secure config {', '.join(config.undecrypted)} could not be decrypted (no passphrase): the program "
            "saw unknown values; set PULUMI_CONFIG_PASSPHRASE to evaluate them")
    gate.start()
    program_ok = False
    try:
        outcome = run_program(project, config, on_resource=gate.submit,
                              stack_reference_outputs=stack_reference_outputs, deadline=gate.deadline,
                              allow_remote_components=tuple(allow_remote_components))
        result.root_urn = outcome.root_urn
        result.invokes = outcome.invokes
        result.warnings.extend(outcome.warnings)
        result.findings.extend(plain_secret_findings(outcome.plain_secret_reads, result))
        program_ok = True
    except GateError as exc:
        gate.record_error(exc)
    finally:
        gate.finish(program_ok)
        result.duration_seconds = time.monotonic() - started
    return result


def evaluate_plan(result: GateResult, resources: Iterable[PlannedResource], options: GateOptions,
                  identity: StackIdentity) -> GateResult:
    """Evaluate already-planned resources (from a test, a stack export or a preview JSON)."""
    started = time.monotonic()
    try:
        gate = Gate(result, options, identity)
    except GateError as exc:
        result.errors.append(exc.message)
        return result
    gate.start()
    try:
        for resource in resources:
            if resource.type == ROOT_STACK_TYPE and not result.root_urn:
                result.root_urn = resource.urn
            gate.submit(resource)
    finally:
        gate.finish(program_ok=True)
        result.duration_seconds = time.monotonic() - started
    return result


def describe_pack(spec: PackSpec, *, timeout: float = 60.0) -> PackInfo:
    """Start a pack, read its policies and resolve its config, without evaluating anything."""
    manifest = read_manifest(spec.path)
    layers = [(f"--policy-pack-config {f}", pack_config.load_config_file(f)) for f in spec.config_files]
    identity = StackIdentity(project="crossgate-describe", stack="describe")
    pack = _Pack(manifest, layers, identity, processes=1, call_timeout=timeout)
    try:
        pack.start(time.monotonic() + timeout)
    finally:
        pack.stop()
    if pack.error is not None:
        raise pack.error
    assert pack.info is not None
    return pack.info
