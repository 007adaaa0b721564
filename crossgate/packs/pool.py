"""The pack pool: every pack's processes, their readiness and configuration, and who calls them.

A pack runs in one or more :class:`~crossgate.packs.process.PackProcess` servers. Each is started,
sent ``ConfigureStack``, and (through the first one) asked for ``GetAnalyzerInfo``; the engine's
config reconciliation resolves every policy's level and properties, and every process gets the
same ``Configure``. Calls take a free process from the pool, so a process serves one call at a time.

A pack's port is open to anything on ``127.0.0.1``, including the program under review, which runs
while packs start. :meth:`PackPool.reassert` re-sends the gate's own ``ConfigureStack`` and
``Configure`` once nothing but the gate can be talking to the packs; the levels the gate configured
(:attr:`Pack.levels`) are what each reply is checked against.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from typing import Any, Callable, Iterable, Sequence

from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import analyzer_pb2

from ..errors import GateError, PackError
from ..model import Level, PackInfo, PolicyInfo
from . import config as pack_config
from .process import PackManifest, PackProcess, StackIdentity, read_manifest
from .settings import GateSettings

ConfigLayers = list[tuple[str, pack_config.PackConfig]]


def load_pack(path: str, config_files: Sequence[str]) -> tuple[PackManifest, ConfigLayers]:
    """A pack's manifest and its ``--policy-pack-config`` layers, read before anything starts."""
    manifest = read_manifest(path)
    layers = [(f"--policy-pack-config {f}", pack_config.load_config_file(f)) for f in config_files]
    return manifest, layers


class Pack:
    """A pack's processes and its resolved configuration."""

    def __init__(self, manifest: PackManifest, config_layers: ConfigLayers, identity: StackIdentity,
                 processes: int, call_timeout: float) -> None:
        self.manifest = manifest
        self.config_layers = config_layers
        self.procs = [PackProcess(manifest, identity, call_timeout=call_timeout) for _ in range(processes)]
        self._free: "queue.Queue[PackProcess]" = queue.Queue()
        self.ready = threading.Event()
        self.error: GateError | None = None
        self.info: PackInfo | None = None
        self.name = manifest.path.name
        #: The level the gate configured for each policy: what every reply is checked against.
        self.levels: dict[str, Level] = {}
        self.kinds: dict[str, str] = {}
        self.has_remediations = False
        self.downgrades: list[str] = []
        self.settings = GateSettings()
        self.resolved: dict[str, pack_config.ResolvedPolicyConfig] = {}

    @property
    def version(self) -> str:
        """The pack's version as the engine reports it: PulumiPolicy.yaml's, else what the pack says."""
        return self.manifest.version or (self.info.version if self.info else "") or "0.0.1"

    @property
    def label(self) -> str:
        return f"policy pack {self.name}"

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
            self.resolved = reconciled.policies
            self.kinds = {p.name: pack_config.kind_from_proto(p.policy_type) for p in info.policies}
            self.levels = {name: cfg.level for name, cfg in self.resolved.items()}
            self.has_remediations = any(level is Level.REMEDIATE for level in self.levels.values())
            for proc in self.procs[1:]:
                proc.configure_stack()
            request = pack_config.configure_request(self.resolved)
            for proc in self.procs:
                proc.call("Configure", request)
                self._free.put(proc)
            self.info = pack_info(info, self.manifest, self.resolved)
        except GateError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            self.error = PackError(f"policy pack {self.manifest.path.name}: {type(exc).__name__}: {exc}")
        finally:
            self.ready.set()

    def reassert(self, timeout: float) -> None:
        """Send every process the gate's own ``ConfigureStack`` and ``Configure`` again."""
        request = pack_config.configure_request(self.resolved)
        for proc in self.procs:
            proc.configure_stack()
            proc.call("Configure", request, timeout=timeout)

    def call(self, method: str, request: Any, timeout: float) -> Any:
        proc = self._free.get()
        try:
            return proc.call(method, request, timeout=timeout)
        finally:
            self._free.put(proc)

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest, timeout: float
                      ) -> list[tuple[analyzer_pb2.AnalyzeResponse, dict[str, Level]]]:
        """AnalyzeStack, with the stack policies shared out among the pack's processes.

        pulumi-policy deserialises every resource once per stack policy, so on a large stack this
        pass dominates. Once per-resource analysis is over, each process is reconfigured to run
        only its share of the stack policies (the others disabled), and all run at once. Each
        reply comes with the levels its process was configured with.
        """
        stack_policies = [name for name, kind in self.kinds.items()
                          if kind == "stack" and self.levels.get(name) is not Level.DISABLED]
        procs = self.procs[:max(1, min(len(self.procs), len(stack_policies)))]
        if len(procs) == 1:
            return [(procs[0].call("AnalyzeStack", request, timeout=timeout), self.levels)]
        shares = [stack_policies[i::len(procs)] for i in range(len(procs))]

        def run(proc: PackProcess, share: list[str]) -> tuple[analyzer_pb2.AnalyzeResponse, dict[str, Level]]:
            levels = {name: (level if self.kinds[name] != "stack" or name in share else Level.DISABLED)
                      for name, level in self.levels.items()}
            proc.call("Configure", pack_config.configure_request(self.resolved, levels), timeout=timeout)
            return proc.call("AnalyzeStack", request, timeout=timeout), levels

        with concurrent.futures.ThreadPoolExecutor(len(procs)) as ex:
            return list(ex.map(run, procs, shares))

    def pids(self) -> set[int]:
        return {pid for pid in (proc.pid for proc in self.procs) if pid is not None}

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


class PackPool:
    """Every pack of a run, started in the background, stopped together."""

    def __init__(self, loaded: Iterable[tuple[PackManifest, ConfigLayers]], identity: StackIdentity, *,
                 processes: int, call_timeout: float, deadline: float) -> None:
        self.deadline = deadline
        self.packs = [Pack(manifest, layers, identity, processes, call_timeout) for manifest, layers in loaded]

    def __bool__(self) -> bool:
        return bool(self.packs)

    def __iter__(self):
        return iter(self.packs)

    def start(self) -> None:
        for pack in self.packs:
            threading.Thread(target=pack.start, args=(self.deadline,), daemon=True,
                             name=f"start-{pack.manifest.path.name}").start()

    def wait_ready(self, pack: Pack) -> bool:
        """Whether ``pack`` started cleanly; raise if it did not finish starting in time."""
        # A little grace past the deadline lets a pack's own start-up error (which names the
        # cause) be reported rather than a bare timeout.
        if not pack.ready.wait(max(0.0, self.deadline - time.monotonic()) + 2.0):
            raise PackError(f"policy pack {pack.manifest.path.name}: timed out starting")
        return pack.error is None

    def reassert(self, record_error: Callable[[GateError], None]) -> None:
        """Re-send the gate's configuration to every pack that started (see the module docstring)."""
        for pack in self.packs:
            try:
                if self.wait_ready(pack):
                    pack.reassert(max(0.1, self.deadline - time.monotonic()))
            except GateError as exc:
                record_error(exc)

    def pids(self) -> set[int]:
        return set().union(*(pack.pids() for pack in self.packs)) if self.packs else set()

    def stop(self) -> None:
        for pack in self.packs:
            pack.stop()


def pack_info(info: analyzer_pb2.AnalyzerInfo, manifest: PackManifest,
              resolved: dict[str, pack_config.ResolvedPolicyConfig]) -> PackInfo:
    policies = []
    for p in sorted(info.policies, key=lambda p: p.name):
        cfg = resolved[p.name]
        policies.append(PolicyInfo(
            name=p.name,
            description=p.description,
            kind=pack_config.kind_from_proto(p.policy_type),
            enforcement_level=cfg.level,
            default_level=cfg.default_level,
            severity=pack_config.severity_from_proto(p.severity),
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


def describe(path: str, config_files: Sequence[str], *, timeout: float) -> PackInfo:
    """Start a pack, read its policies and resolve its config, without evaluating anything."""
    manifest, layers = load_pack(path, config_files)
    identity = StackIdentity(project="crossgate-describe", stack="describe")
    pack = Pack(manifest, layers, identity, processes=1, call_timeout=timeout)
    try:
        pack.start(time.monotonic() + timeout)
    finally:
        pack.stop()
    if pack.error is not None:
        raise pack.error
    assert pack.info is not None
    return pack.info

