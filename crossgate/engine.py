"""The gate: run the program, drive every policy pack as the Pulumi engine does, decide.

Order, per pack (see ``ENGINE.md``): ConfigureStack, GetAnalyzerInfo, config reconciliation,
Configure; then per resource Remediate (one pack at a time) and Analyze on the remediated
properties; finally AnalyzeStack over everything. Each pack may run in several processes to use
every core. Packs start while the program runs; resources are analysed as they register when the
program runs without access to the gate's network, else once it has ended (see
:func:`network_isolation`).

Who does what: :mod:`crossgate.packs.pool` runs and configures the packs, :mod:`crossgate.collector`
turns their replies into findings and builds the result, and this module keeps the engine's order
under one deadline, handing the collector everything the result reports. Anything that prevents a
complete evaluation is recorded in ``GateResult.errors`` (exit 2), and what was evaluated up to then
is still reported.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from . import urn as urns
from .collector import Collector, Subject
from .errors import GateError, InputError, PackError, ProgramError
from .model import GateResult, PackInfo, PlannedResource
from .packs import pool as pack_pool
from .packs.pool import PackPool
from .packs.process import StackIdentity
from .program.runner import run_program
from .project import load_project, load_stack_config, stack_tags

ROOT_STACK_TYPE = urns.ROOT_STACK_TYPE
split_urn = urns.split


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
    #: Stack tags given on the command line (``--stack-tag KEY=VALUE``); they win over the stack's own.
    stack_tags: dict[str, str] = field(default_factory=dict)
    #: Run the program without access to the gate's network (see :func:`network_isolation`): None
    #: when the system allows it; False never (evaluation then waits for the program to end); True
    #: always (an error where unavailable). Both ways are sound; isolation lets evaluation overlap.
    isolate_network: bool | None = None
    #: Run the program only, for ``--plan-out``: crossgate's own findings travel in the plan and are
    #: raised where it is judged (``check --plan``).
    plan_only: bool = False


def pack_specs(packs: Sequence[str], configs: Sequence[str]) -> list[PackSpec]:
    """Pair packs with config files as the CLI does: the i-th config belongs to the i-th pack."""
    if configs and len(configs) != len(packs):
        raise InputError(f"{len(configs)} --policy-pack-config for {len(packs)} --policy-pack: as in the "
                         "Pulumi CLI, the i-th config belongs to the i-th pack, so the counts must match")
    return [PackSpec(path=p, config_files=[configs[i]] if configs else []) for i, p in enumerate(packs)]


class Gate:
    """Drives the packs in the engine's order under one deadline. Feed resources with :meth:`submit`,
    open analysis with :meth:`open_analysis`, then :meth:`finish`."""

    def __init__(self, options: GateOptions, identity: StackIdentity, collector: Collector) -> None:
        self.options = options
        self.identity = identity
        self.deadline = time.monotonic() + options.timeout
        self.collector = collector
        processes_per_pack = options.parallel or os.cpu_count() or 1
        loaded = [pack_pool.load_pack(spec.path, spec.config_files) for spec in options.packs]
        self.pool = PackPool(loaded, identity, processes=processes_per_pack, call_timeout=options.call_timeout,
                             deadline=self.deadline)
        workers = max(2, processes_per_pack * max(1, len(self.pool.packs)) * 2)
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="crossgate")
        self._futures: list[concurrent.futures.Future[None]] = []
        self._final_props: dict[str, struct_pb2.Struct] = {}
        self._open = threading.Event()
        #: Set once finish() stops the packs: analysis calls it cuts off are not reported as errors.
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._done_count = 0

    def start(self) -> None:
        self.pool.start()

    def open_analysis(self, *, reassert: bool = True) -> None:
        """Let analysis begin. Call it once nothing but the gate can talk to the packs; ``reassert``
        re-sends the gate's configuration first, undoing anything sent to them before."""
        if reassert:
            self.pool.reassert(self.record_error)
        self._open.set()

    def _timed_out(self, what: str) -> PackError:
        return PackError(f"timed out {what}: the run's --timeout of {self.options.timeout:g} s was reached "
                         "(raise --timeout)")

    def _remaining(self, what: str) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(what)
        return min(remaining, self.options.call_timeout)

    # -- per resource ----------------------------------------------------------------------

    def submit(self, resource: PlannedResource) -> None:
        self.collector.add_resource(resource)
        if not self.pool:
            return
        self._futures.append(self._executor.submit(self._analyze_resource, resource))

    def _analyze_resource(self, resource: PlannedResource) -> None:
        try:
            # The same grace as waiting for a pack: its own start-up error names the cause better.
            if not self._open.wait(max(0.0, self.deadline - time.monotonic()) + 2.0):
                raise self._timed_out(f"waiting for the policy packs to start, before evaluating {resource.urn}")
            if self.collector.failed:
                return
            props = resource.properties
            for pack in self.pool:
                if not self.pool.wait_ready(pack) or not pack.has_remediations:
                    continue
                response = pack.call("Remediate", _analyze_request(resource, props),
                                     self._remaining(f"remediating {resource.urn} with {pack.label}"))
                props = self.collector.remediations(pack, resource, props, response)
            self._final_props[resource.urn] = props
            for pack in self.pool:
                if not self.pool.wait_ready(pack):
                    continue
                response = pack.call("Analyze", _analyze_request(resource, props),
                                     self._remaining(f"analysing {resource.urn} with {pack.label}"))
                self.collector.diagnostics(pack, response, resource.urn)
        except GateError as exc:
            if not self._stopping.is_set():
                self.record_error(exc)
        except Exception as exc:  # noqa: BLE001
            if not self._stopping.is_set():  # calls cut off by the gate's own shutdown are not news
                self.record_error(PackError(f"evaluating {resource.urn}: {type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._done_count += 1
                done = self._done_count
            if self.options.progress:
                self.options.progress("analyzed", done, len(self._futures))

    def abort(self) -> None:
        """Stop everything at once (an interrupt): no result is built."""
        self._open.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.pool.stop()

    def record_error(self, exc: GateError) -> None:
        self.collector.error(exc)

    # -- the end ---------------------------------------------------------------------------

    def finish(self, subject: Subject, program_ok: bool, *, started: float,
               secret_values: Iterable[str] = ()) -> GateResult:
        """Wait for per-resource work, run AnalyzeStack if everything so far succeeded, stop packs,
        and build the result (see :meth:`Collector.build`)."""
        try:
            if not self._open.is_set():
                # Only an error skips open_analysis; analysis then stops at once (nothing unchecked runs).
                if not self.collector.failed:
                    self.record_error(PackError("policies were never evaluated (internal error)"))
                self._open.set()
            # Packs first: a pack's own start-up error names the cause better than a timeout.
            for pack in self.pool:
                try:
                    self.pool.wait_ready(pack)
                except GateError as exc:
                    self.record_error(exc)
                if pack.error is not None:
                    self.record_error(pack.error)
                elif pack.info is not None:
                    self.collector.add_pack(pack.info, pack.downgrades)
                    for warning in dict.fromkeys(p.fallback_warning for p in pack.procs if p.fallback_warning):
                        self.collector.warn(warning)
            for future in list(self._futures):
                remaining = max(0.0, self.deadline - time.monotonic())
                try:
                    future.result(timeout=remaining)
                except concurrent.futures.TimeoutError:
                    pending = sum(1 for f in self._futures if not f.done())
                    self.record_error(self._timed_out(
                        f"evaluating policies, with {pending} of {len(self._futures)} resources not yet evaluated"))
                    break
            if program_ok and not self.collector.failed and not self.collector.program_failed and self.pool:
                self._analyze_stack(self.collector.root_urn)
        except GateError as exc:
            self.record_error(exc)
        except Exception as exc:  # noqa: BLE001 - never lose the reports of what was evaluated
            self.record_error(PackError(f"evaluating stack {self.collector.root_urn or subject.stack}: "
                                        f"{type(exc).__name__}: {exc}"))
        finally:
            self._stopping.set()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self.pool.stop()
        return self.collector.build(subject, packs=self.pool, waivers=self.options.waivers, today=self.options.today,
                                    deadline=self.deadline, secret_values=secret_values,
                                    duration=time.monotonic() - started)

    def _analyze_stack(self, root_urn: str) -> None:
        request = analyzer_pb2.AnalyzeStackRequest()
        for resource in self.collector.resources:
            props = self.options.stack_outputs.get(resource.urn) or self._final_props.get(
                resource.urn, resource.properties)
            item = request.resources.add(type=resource.type, urn=resource.urn, name=resource.name,
                                         parent=resource.parent or "", dependencies=list(resource.dependencies))
            item.properties.CopyFrom(props)
            _set_options(item.options, resource)
            for key, urns_ in resource.property_dependencies.items():
                item.propertyDependencies[key].urns.extend(urns_)
            _set_provider(item, resource)
        for pack in self.pool:
            try:
                responses = pack.analyze_stack(request, max(0.1, self.deadline - time.monotonic()))
            except GateError as exc:
                self.record_error(exc)
                return
            try:
                for response, levels in responses:
                    self.collector.diagnostics(pack, response, root_urn, levels=levels, stack=True)
            except GateError as exc:
                self.record_error(exc)


def _set_provider(item: Any, resource: PlannedResource) -> None:
    if not resource.provider:
        return
    urn = urns.provider_urn(resource.provider)
    ptype, pname = urns.split(urn)
    item.provider.type = ptype
    item.provider.urn = urn
    item.provider.name = pname
    if resource.provider_inputs is not None:
        item.provider.properties.CopyFrom(resource.provider_inputs)


def _set_options(options: analyzer_pb2.AnalyzerResourceOptions, resource: PlannedResource) -> None:
    """The options the engine sends (``marshalResourceOptions`` in ``analyzer_plugin.go``), aliases
    included: only those matched against existing state (see :attr:`PlannedResource.aliases`)."""
    options.protect = resource.protect
    options.parent = resource.parent or ""
    options.ignoreChanges.extend(resource.ignore_changes)
    options.deleteBeforeReplaceDefined = resource.delete_before_replace is not None
    options.deleteBeforeReplace = bool(resource.delete_before_replace)
    options.additionalSecretOutputs.extend(resource.additional_secret_outputs)
    options.aliases.extend(resource.aliases)
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


# -- keeping the program away from the packs --------------------------------------------------------
#
# A pack's port is reachable by anything on 127.0.0.1, and the program under review runs while the
# packs start: it could send a pack its own Configure (every policy disabled). Where the system allows
# it (Linux with unprivileged user namespaces), the program runs in network namespaces of its own,
# where the gate's 127.0.0.1 does not exist, and policies are evaluated while it runs. Elsewhere,
# evaluation waits until the program and every process it started have ended (the gate reaps the
# program's orphans, Linux), then the gate re-sends its own configuration (crossgate.packs.pool).
# Either way the program's leftover processes are stopped before the packs are judged by.

_ISOLATION = ("unshare", "--user", "--map-current-user", "--net", "--")
_isolation_checked: list[tuple[str, ...]] = []


def network_isolation() -> tuple[str, ...]:
    """The command prefix that runs a process without access to the gate's network, or () if the
    system doesn't allow it. Probed once per process: a new network namespace has a loopback of its
    own (down), so if ``unshare`` can create one, the gate's 127.0.0.1 is out of the program's reach."""
    if not _isolation_checked:
        import shutil
        import subprocess

        prefix: tuple[str, ...] = ()
        true = shutil.which("true")
        if sys.platform.startswith("linux") and shutil.which("unshare") and true:
            try:
                probe = subprocess.run([*_ISOLATION, true], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
                if probe.returncode == 0:
                    prefix = _ISOLATION
            except (OSError, subprocess.SubprocessError):
                pass
        _isolation_checked.append(prefix)
    return _isolation_checked[0]


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Make orphaned descendants (a daemon the program started) children of this process."""
    if not os.path.isdir("/proc/self/task"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children() -> set[int]:
    pids: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as fh:
                pids |= {int(p) for p in fh.read().split()}
        except OSError:
            continue
    return pids


def _stop_leftovers(keep: set[int]) -> int:
    """Kill and reap every child that is not in ``keep``; return how many there were."""
    import signal

    stopped = 0
    for _ in range(100):
        extra = _children() - keep
        if not extra:
            return stopped
        for pid in extra:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in extra:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        stopped += len(extra)
    raise ProgramError("the program keeps starting processes after it exited; crossgate can't stop them")


def preview(cwd: str, stack: str, options: GateOptions, *,
            stack_reference_outputs: dict[str, dict[str, Any]] | None = None,
            allow_remote_components: Sequence[str] = ()) -> GateResult:
    """Run the program at ``cwd`` offline and evaluate ``options.packs`` against it.

    ``allow_remote_components``: component types the user accepts although their children can't be
    seen offline (each is reported); any other remote component is an error.
    """
    started = time.monotonic()
    collector = Collector(options.unknowns, own_findings=not options.plan_only)
    subject = Subject(project="", stack=stack, project_dir=os.path.abspath(cwd))
    secret_values: set[str] = set()
    try:
        project = load_project(cwd)
        subject = Subject(project=project.name, stack=stack, project_dir=str(project.root))
        config = load_stack_config(project, stack)
        short = stack.rsplit("/", 1)[-1]
        identity = StackIdentity(
            project=project.name, stack=short, config=config.plain(),
            secret_keys=tuple(k for k, v in config.values.items() if v.secret),
            tags=stack_tags(project, config, extra=options.stack_tags))
        secret_values = config.secret_values()
        gate = Gate(options, identity, collector)
    except GateError as exc:
        collector.error(exc)
        return collector.build(subject, secret_values=secret_values)

    if config.undecrypted:
        collector.warn(
            f"secure config {', '.join(config.undecrypted)} could not be decrypted (no passphrase): the program "
            "saw unknown values; set PULUMI_CONFIG_PASSPHRASE to evaluate them")
    isolation = network_isolation() if options.isolate_network is not False else ()
    if options.isolate_network and not isolation:
        gate.record_error(InputError("network isolation for the program is not available on this system"))
    reaping = _become_subreaper()
    before = _children() if reaping else set()
    gate.start()
    try:
        return _run_and_finish(gate, subject, project, config, started, reaping=reaping, before=before,
                               isolation=isolation, stack_reference_outputs=stack_reference_outputs,
                               allow_remote_components=allow_remote_components, secret_values=secret_values)
    except BaseException:
        # Interrupted (CI cancels with SIGTERM): leave no pack, and no program process, running.
        gate.abort()
        if reaping:
            _stop_leftovers(set())
        raise


def _run_and_finish(gate: Gate, subject: Subject, project: Any, config: Any, started: float, *, reaping: bool,
                    before: set[int], isolation: tuple[str, ...],
                    stack_reference_outputs: dict[str, dict[str, Any]] | None,
                    allow_remote_components: Sequence[str], secret_values: set[str]) -> GateResult:
    collector = gate.collector
    if isolation:
        gate.open_analysis(reassert=False)  # the program can't reach the packs: evaluate as it runs
    program_ok = False
    try:
        outcome = run_program(project, config, on_resource=gate.submit,
                              stack_reference_outputs=stack_reference_outputs, deadline=gate.deadline,
                              allow_remote_components=tuple(allow_remote_components), launcher=isolation)
        collector.program(root_urn=outcome.root_urn, invokes=outcome.invokes, warnings=outcome.warnings,
                          plain_reads=outcome.plain_reads)
        program_ok = True
    except GateError as exc:
        gate.record_error(exc)
    except Exception as exc:  # noqa: BLE001 - a crash reading the run fails it, and the reports are still written
        gate.record_error(ProgramError(f"crossgate could not read the Pulumi program's run: {type(exc).__name__}: {exc}"))
    try:
        for pack in gate.pool:
            gate.pool.wait_ready(pack)  # its processes must exist before anything else is stopped
        if reaping:
            left = _stop_leftovers(before | gate.pool.pids())
            if left:
                collector.warn(f"the program left {left} process(es) running after it exited; crossgate "
                               "stopped them before evaluating policies")
        if not isolation:
            gate.open_analysis()
    except GateError as exc:
        gate.record_error(exc)
    finally:
        result = gate.finish(subject, program_ok, started=started, secret_values=secret_values)
    return result


def evaluate_plan(subject: Subject, resources: Iterable[PlannedResource], options: GateOptions,
                  identity: StackIdentity, *, collector: Collector | None = None) -> GateResult:
    """Evaluate already-planned resources (from a test, a stack export, a preview JSON or a plan).

    ``collector`` may already hold what the run's source told (a plan's program facts, errors, the
    stack's URN); when it names no stack, the first ``pulumi:pulumi:Stack`` resource is the stack."""
    started = time.monotonic()
    collector = collector if collector is not None else Collector(options.unknowns)
    try:
        gate = Gate(options, identity, collector)
    except GateError as exc:
        collector.error(exc)
        return collector.build(subject)
    gate.start()
    gate.open_analysis(reassert=False)  # no program runs here
    try:
        for resource in resources:
            if resource.type == ROOT_STACK_TYPE and not collector.root_urn:
                collector.root_urn = resource.urn
            gate.submit(resource)
    finally:
        result = gate.finish(subject, program_ok=True, started=started)
    return result


def describe_pack(spec: PackSpec, *, timeout: float = 60.0) -> PackInfo:
    """Start a pack, read its policies and resolve its config, without evaluating anything."""
    return pack_pool.describe(spec.path, spec.config_files, timeout=timeout)
