"""Launching a Python policy pack as the Pulumi CLI does, and talking Analyzer gRPC to it.

The CLI runs ``python -u -m pulumi.policy <engine-address> <pack-dir>`` with the working directory
set to the pack, the pack's virtualenv when ``PulumiPolicy.yaml`` names one, and the stack's
identity in ``PULUMI_CONFIG``, ``PULUMI_PROJECT``, ``PULUMI_STACK`` and ``PULUMI_DRY_RUN``. crossgate
does the same with its own host script in place of ``-m pulumi.policy`` (``_pack_host.py``, run by
path in the pack's interpreter): it runs the pack's ``__main__.py`` as ``pulumi.policy`` would and
serves the same Analyzer service, deserialising each resource once per request instead of once per
policy. Its first line says whether it could (``fast``) or fell back to pulumi-policy's own servicer
(``stock``); a fallback is reported with the results. The pack prints its port and serves until
killed; every path out of here kills it.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

from ..errors import InputError, PackError
from ..project import virtualenv_python

#: Address passed as the engine's. The pack's runtime never dials it during analysis.
ENGINE_ADDRESS = "127.0.0.1:0"
#: The Pulumi SDK's and engine's gRPC message limit (``_MAX_RPC_MESSAGE_SIZE``, 400 MB), used in both
#: directions on every channel crossgate opens and by the pack host's server.
MAX_MESSAGE_BYTES = 400 * 1024 * 1024
GRPC_OPTIONS = (("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES))
#: crossgate's pack host, run by path in the pack's interpreter (which may not have crossgate).
HOST_SCRIPT = Path(__file__).resolve().with_name("_pack_host.py")
HOST_BANNER = b"crossgate-pack-host "
#: How packs are launched: "crossgate" (the host above) or "stock" (``-m pulumi.policy``, as the CLI).
DEFAULT_HOST = "crossgate"
_VERSION_RE = re.compile(r"^[0-9A-Za-z.+-]+$")


@dataclass(frozen=True)
class PackManifest:
    """What ``PulumiPolicy.yaml`` says about a pack."""

    path: Path
    runtime: str
    version: str
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def interpreter(self) -> str:
        venv = self.options.get("virtualenv")
        if not venv:
            return sys.executable
        python = virtualenv_python(self.path, venv)
        if not python.exists():
            raise InputError(f"policy pack {self.path}: PulumiPolicy.yaml declares virtualenv '{venv}', "
                             f"but {python} does not exist; create it with `python3 -m venv {venv}` and "
                             "install the pack's requirements.txt into it")
        return str(python)


def read_manifest(pack_dir: str | os.PathLike[str]) -> PackManifest:
    path = Path(pack_dir).resolve()
    if not path.is_dir():
        raise InputError(f"policy pack {pack_dir}: not a directory")
    manifest = path / "PulumiPolicy.yaml"
    if not manifest.exists():
        raise InputError(f"policy pack {pack_dir}: no PulumiPolicy.yaml")
    try:
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"policy pack {pack_dir}: PulumiPolicy.yaml is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"policy pack {pack_dir}: PulumiPolicy.yaml must be a mapping")
    runtime = doc.get("runtime")
    options: dict[str, Any] = {}
    if isinstance(runtime, dict):
        options = dict(runtime.get("options") or {})
        runtime = runtime.get("name")
    if runtime != "python":
        raise InputError(f"policy pack {pack_dir}: runtime is '{runtime}'; crossgate runs Python packs")
    version = str(doc.get("version") or "")
    if version and not _VERSION_RE.match(version):
        raise InputError(f"policy pack {pack_dir}: invalid version '{version}' in PulumiPolicy.yaml")
    if not (path / "__main__.py").exists():
        raise InputError(f"policy pack {pack_dir}: no __main__.py")
    return PackManifest(path=path, runtime=runtime, version=version,
                        description=str(doc.get("description") or ""), options=options)


@dataclass(frozen=True)
class StackIdentity:
    project: str
    stack: str
    organization: str = "organization"
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


class PackProcess:
    """One running pack server. Use as a context manager; :meth:`stop` is idempotent."""

    def __init__(self, manifest: PackManifest, identity: StackIdentity, *, call_timeout: float,
                 host: str | None = None) -> None:
        self.manifest = manifest
        self.identity = identity
        self.call_timeout = call_timeout
        self.host = host or DEFAULT_HOST
        if self.host not in ("crossgate", "stock"):
            raise ValueError(f"unknown pack host {self.host!r}")
        #: How the pack is served: "fast", "stock" (the host fell back) or "pulumi.policy" (not hosted).
        self.servicer = "pulumi.policy"
        self.servicer_note = ""
        self._pending = b""
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr = tempfile.TemporaryFile()
        self._lock = threading.Lock()
        self.startup_seconds = 0.0

    @property
    def label(self) -> str:
        return f"policy pack {self.manifest.path.name}"

    @property
    def pid(self) -> int | None:
        """The pack server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, deadline: float) -> None:
        import json

        started = time.monotonic()
        env = dict(os.environ)
        env.update({
            "PULUMI_CONFIG": json.dumps(self.identity.config),
            "PULUMI_PROJECT": self.identity.project,
            "PULUMI_STACK": self.identity.stack,
            "PULUMI_ORGANIZATION": self.identity.organization,
            "PULUMI_DRY_RUN": "true",
        })
        try:
            launcher = ["-m", "pulumi.policy"] if self.host == "stock" else [str(HOST_SCRIPT)]
            self._proc = subprocess.Popen(
                [self.manifest.interpreter, "-u", *launcher, ENGINE_ADDRESS, str(self.manifest.path)],
                cwd=self.manifest.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as exc:
            raise PackError(f"{self.label}: cannot start {self.manifest.interpreter}: {exc.strerror}") from exc
        port = self._read_port(deadline)
        # Whatever policies print must not fill the pipe and stall the pack.
        threading.Thread(target=self._drain_stdout, daemon=True, name=f"drain-{self.label}").start()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=list(GRPC_OPTIONS))
        ready = grpc.channel_ready_future(self._channel)
        while True:
            try:
                ready.result(timeout=min(0.5, max(0.05, deadline - time.monotonic())))
                break
            except grpc.FutureTimeoutError:
                if self._proc.poll() is not None:
                    raise PackError(f"{self.label} exited with code {self._proc.returncode} after printing "
                                    f"its port", detail=self.stderr_tail()) from None
                if time.monotonic() >= deadline:
                    raise PackError(f"{self.label}: port {port} did not accept connections in time",
                                    detail=self.stderr_tail()) from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self.startup_seconds = time.monotonic() - started

    @property
    def fallback_warning(self) -> str | None:
        """Why this pack was not served by the fast servicer, when crossgate's host fell back."""
        if self.servicer != "stock":
            return None
        return (f"{self.label}: served by pulumi-policy's own servicer ({self.servicer_note}); the results are "
                "the same, evaluation is slower")

    def _read_line(self, deadline: float) -> bytes:
        """The next line of the pack's stdout (without its newline), or what there was at end of output."""
        assert self._proc is not None and self._proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self._proc.stdout, selectors.EVENT_READ)
        data = self._pending
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PackError(f"{self.label}: printed no port before the timeout", detail=self.stderr_tail())
            if not selector.select(min(remaining, 0.5)):
                if self._proc.poll() is not None:
                    break
                continue
            chunk = os.read(self._proc.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
        line, _, self._pending = data.partition(b"\n")
        return line

    def _read_banner(self, deadline: float) -> None:
        line = self._read_line(deadline)
        if not line.startswith(HOST_BANNER):
            self._fail_start(line)
        mode, _, note = line[len(HOST_BANNER):].decode("utf-8", "replace").partition(" ")
        if mode not in ("fast", "stock"):
            raise PackError(f"{self.label}: crossgate's pack host said {line[:80]!r}", detail=self.stderr_tail())
        self.servicer, self.servicer_note = mode, note.strip()

    def _read_port(self, deadline: float) -> int:
        if self.host == "crossgate":
            self._read_banner(deadline)
        line = self._read_line(deadline).strip()
        if not line.isdigit():
            self._fail_start(line)
        return int(line)

    def _fail_start(self, line: bytes) -> None:
        assert self._proc is not None
        # At end of output the process may not be reaped yet; its exit code names the cause.
        code = None if self._alive_after_error() else self._proc.returncode
        tail = self.stderr_tail()
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        if code is not None:
            raise PackError(f"{self.label} exited with code {code} at start" + (f": {last}" if last else ""),
                            detail=tail)
        raise PackError(f"{self.label} printed {line.strip()[:60]!r} instead of a port", detail=tail)

    def _drain_stdout(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        try:
            while os.read(proc.stdout.fileno(), 65536):
                pass
        except (OSError, ValueError):
            pass

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")[-limit:]
        except (OSError, ValueError):
            return ""

    def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """Call an Analyzer RPC; any failure becomes a :class:`PackError` naming the pack and call."""
        if self._stub is None:
            raise PackError(f"{self.label} is not running")
        try:
            return getattr(self._stub, method)(request, timeout=timeout or self.call_timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED and method in ("Handshake", "ConfigureStack"):
                return None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PackError(f"{self.label}: {method} timed out", detail=self.stderr_tail()) from None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            alive = self._alive_after_error()
            what = "failed" if alive else "crashed"
            first = (details or "").strip().splitlines()
            raise PackError(f"{self.label}: {method} {what}: {first[-1] if first else code}",
                            detail=(details or "") + "\n" + self.stderr_tail()) from None

    def _alive_after_error(self) -> bool:
        """Whether the pack survived a failed call (a dying process takes a moment to be reaped)."""
        if self._proc is None:
            return False
        try:
            self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return True
        return False

    # -- the RPCs, in the engine's order ------------------------------------------------------

    def configure_stack(self) -> None:
        ident = self.identity
        self.call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=ident.stack, project=ident.project, organization=ident.organization, dry_run=True,
            config=ident.config, config_secret_keys=list(ident.secret_keys), tags=ident.tags))

    def analyzer_info(self) -> analyzer_pb2.AnalyzerInfo:
        from google.protobuf import empty_pb2

        return self.call("GetAnalyzerInfo", empty_pb2.Empty())

    def plugin_info(self) -> plugin_pb2.PluginInfo | None:
        from google.protobuf import empty_pb2

        return self.call("GetPluginInfo", empty_pb2.Empty())

    def stop(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
            if proc is not None:
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()

    def __enter__(self) -> "PackProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
