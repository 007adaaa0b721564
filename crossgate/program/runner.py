"""Runs a Pulumi Python program offline and turns its registrations into :class:`PlannedResource`.

The program runs in a child process (the project's interpreter, see ``_host.py``) so that its
imports, globals and crashes never touch the gate. Records stream back over a pipe and are handed
to ``on_resource`` as they arrive, so policy evaluation overlaps with the program.

Invokes have no cloud behind them. Those in ``placeholders.json`` (the caller's identity, for
example) are answered with documented placeholder values; any other invoke's result is unknown.
Every invoke is listed in the result.

The program gets only the environment it needs (:func:`program_environment`): no credentials, no
CI runner variables, no ``CROSSGATE_*`` settings of the gate.
"""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from .. import urn as urns
from .. import wire
from ..errors import InputError, ProgramError, read_json
from ..model import InvokeAnswer, PlainRead, PlainReadKind, PlannedResource, SourceLocation
from ..project import Project, StackConfig

HOST = Path(__file__).with_name("_host.py")
_SECRET_SIG = wire.SECRET_SIG.encode()
PLACEHOLDERS_FILE = Path(__file__).with_name("placeholders.json")


def default_invoke_answers() -> dict[str, dict[str, Any]]:
    return json.loads(PLACEHOLDERS_FILE.read_text(encoding="utf-8"))


@dataclass
class ProgramOutcome:
    resources: list[PlannedResource] = field(default_factory=list)
    invokes: list[InvokeAnswer] = field(default_factory=list)
    #: Warnings the program logged, then notices about what a preview doesn't show (one line each).
    warnings: list[str] = field(default_factory=list)
    root_urn: str = ""
    #: Values unknown offline the program took as plain values (names and lines, never a value).
    plain_reads: list[PlainRead] = field(default_factory=list)


# What a Python program needs from the environment; everything else (credentials, CI runner
# variables, the gate's own CROSSGATE_* settings) stays with the gate.
_KEPT_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TMP", "TEMP",
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE",
    "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONNOUSERSITE", "PYTHONSAFEPATH",
    # Windows needs these to start a process at all.
    "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA",
})
_KEPT_PREFIXES = ("LC_",)


def program_environment(environ: dict[str, str], project: Project, config: StackConfig) -> dict[str, str]:
    """The environment the program runs with: what Python needs, the ``PULUMI_*`` variables the
    language host sets, and nothing else."""
    env = {k: v for k, v in environ.items() if k.upper() in _KEPT_NAMES or k.upper().startswith(_KEPT_PREFIXES)}
    venv = project.runtime_options.get("virtualenv")
    if venv:
        # As the language host does for a project virtualenv.
        venv_dir = Path(venv) if os.path.isabs(venv) else project.root / venv
        env["VIRTUAL_ENV"] = str(venv_dir)
        env["PATH"] = os.pathsep.join(p for p in (str(Path(project.interpreter).parent), env.get("PATH")) if p)
    env.update(config.env())
    env.update({
        "PULUMI_DRY_RUN": "true",
        "PULUMI_PROJECT": project.name,
        "PULUMI_STACK": config.stack.rsplit("/", 1)[-1],
        "PYTHONUNBUFFERED": "1",
    })
    return env


def load_stack_reference_outputs(path: str | None) -> dict[str, dict[str, Any]]:
    if not path:
        return {}
    doc = read_json(path, f"--stack-reference-outputs {path}")
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(f"--stack-reference-outputs {path} must map stack names to objects of outputs")
    return doc


def _decode_resource(record: dict[str, Any], provider_inputs: struct_pb2.Struct | None = None) -> PlannedResource:
    props = struct_pb2.Struct()
    raw = base64.b64decode(record["props"]) if record["props"] else b""
    if raw:
        try:
            props.ParseFromString(raw)
        except DecodeError:
            _malformed(record, "props")
    source = record.get("source")
    options = record.get("options") or {}
    return PlannedResource(
        urn=record["urn"],
        type=record["type"],
        name=record["name"],
        custom=record["custom"],
        properties=props,
        parent=record.get("parent"),
        dependencies=tuple(record.get("dependencies") or ()),
        property_dependencies={k: tuple(v) for k, v in (record.get("propertyDependencies") or {}).items()},
        provider=record.get("provider"),
        protect=bool(record.get("protect")),
        source=SourceLocation(source["file"], source["line"]) if source else None,
        order=int(record.get("order") or 0),
        has_secrets=_SECRET_SIG in raw,
        ignore_changes=tuple(options.get("ignoreChanges") or ()),
        delete_before_replace=options.get("deleteBeforeReplace"),
        additional_secret_outputs=tuple(options.get("additionalSecretOutputs") or ()),
        custom_timeouts={k: duration_seconds(v, f"customTimeouts.{k} of {record['urn']}")
                         for k, v in (options.get("customTimeouts") or {}).items()},
        provider_inputs=provider_inputs,
        remote=bool(record.get("remote")),
        dynamic_provider=record.get("dynamicProvider"),
    )


def run_program(
    project: Project,
    config: StackConfig,
    *,
    on_resource: Callable[[PlannedResource], None] = lambda r: None,
    stack_reference_outputs: dict[str, dict[str, Any]] | None = None,
    deadline: float | None = None,
    verbose: bool = False,
    allow_remote_components: tuple[str, ...] = (),
    launcher: Sequence[str] = (),
) -> ProgramOutcome:
    """Run the program to completion; raise :class:`ProgramError` if it fails in any way.

    ``allow_remote_components`` lists component types (``remote=True``) the user accepts without
    the resources their provider would create; any other remote component fails the run.
    ``launcher`` prefixes the command (the engine's network isolation, ``unshare ...``).
    """
    interpreter = project.interpreter
    options = {
        "project": project.name,
        "stack": config.stack.rsplit("/", 1)[-1],
        "root": str(project.root),
        "programDir": str(project.program_dir),
        "invokeAnswers": default_invoke_answers(),
        "stackReferenceOutputs": stack_reference_outputs or {},
        "undecrypted": list(config.undecrypted),
        "allowRemoteComponents": sorted(set(allow_remote_components)),
    }
    read_fd, write_fd = os.pipe()
    env = program_environment(dict(os.environ), project, config)
    env.update({
        "CROSSGATE_HOST": json.dumps(options),
        "CROSSGATE_RECORD_FD": str(write_fd),
    })
    output = tempfile.TemporaryFile()
    proc = _start_host([*launcher, interpreter], project, env, output, read_fd, write_fd)

    records = _Records(on_resource)
    try:
        with os.fdopen(read_fd, "rb") as stream:
            selector = selectors.DefaultSelector()
            selector.register(stream, selectors.EVENT_READ)
            buffer = b""
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ProgramError("timed out while the program was running (raise --timeout)")
                if not selector.select(remaining):
                    continue
                chunk = os.read(stream.fileno(), 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    records.take(parse_record(line))
        remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
        try:
            code = proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            raise ProgramError("timed out while the program was shutting down (raise --timeout)") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output.seek(0)
        printed = output.read().decode("utf-8", "replace")
        output.close()

    outcome, error = records.outcome(), records.error
    if error is not None:
        logged = "; ".join(w for w in outcome.warnings if w.startswith("error:"))
        message = error["message"]
        if logged and "logged" in message:
            message = f"{message}: {logged[len('error: '):]}"
        raise ProgramError(f"the Pulumi program failed: {message}",
                           detail=(error.get("traceback") or "") + printed)
    if not records.done or code != 0:
        raise ProgramError(f"the Pulumi program exited with code {code} before finishing",
                           detail=printed)
    problem = urns.graph_problem(outcome.resources, project=project.name, stack=options["stack"],
                                 root_urn=outcome.root_urn, finished=True, owner="the program")
    if problem is not None:
        raise ProgramError(f"the Pulumi program's registrations don't hang together ({problem}): something "
                           "other than the Pulumi SDK wrote them, so the plan can't be trusted", detail=printed)
    return outcome


#: The host's records: for each kind, its required fields and their JSON types (``None`` allows null).
_RECORD_FIELDS: dict[str, dict[str, tuple[type | None, ...]]] = {
    "resource": {"urn": (str,), "type": (str,), "name": (str,), "custom": (bool,), "props": (str,)},
    "plainRead": {"what": (str,), "name": (str,), "via": (str,)},
    "skippedApplies": {"sites": (list,)},
    "notice": {"message": (str,)},
    "invoke": {"token": (str,), "placeholder": (bool,)},
    "log": {"severity": (str,), "message": (str,)},
    "error": {"message": (str,)},
    "done": {"records": (int,)},
}
_PLAIN_READ_KINDS = frozenset(kind.value for kind in PlainReadKind)
#: Optional fields of a resource record and their JSON types.
_RESOURCE_OPTIONAL: dict[str, tuple[type | None, ...]] = {
    "parent": (str, None), "dependencies": (list,), "propertyDependencies": (dict,), "provider": (str, None),
    "protect": (bool,), "options": (dict, None), "remote": (bool,), "dynamicProvider": (str, None),
    "source": (dict, None), "order": (int,),
}


def parse_record(line: bytes) -> dict[str, Any]:
    """One record of the host, checked for shape: a program that writes to the record pipe itself (or
    an interpreter that is not the host) fails the run naming the program, never crashes the gate."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        record = None
    fields = _RECORD_FIELDS.get(record.get("kind")) if isinstance(record, dict) else None
    if fields is None:
        raise ProgramError("the Pulumi program wrote something that is not a record of crossgate's host to its "
                           "record pipe; the run can't be trusted")
    for name, kinds in fields.items():
        _expect(record, name, kinds, required=True)
    if record["kind"] == "resource":
        for name, kinds in _RESOURCE_OPTIONAL.items():
            _expect(record, name, kinds, required=False)
        _expect_source(record)
        try:
            base64.b64decode(record["props"], validate=True)
        except ValueError:
            _malformed(record, "props")
        if not _strings(record.get("dependencies", [])):
            _malformed(record, "dependencies")
        if not all(_strings(v) for v in record.get("propertyDependencies", {}).values()):
            _malformed(record, "propertyDependencies")
        options = record.get("options") or {}
        if not (_strings(options.get("ignoreChanges", [])) and _strings(options.get("additionalSecretOutputs", []))
                and type(options.get("deleteBeforeReplace", False)) is bool
                and isinstance(options.get("customTimeouts", {}), dict)
                and _strings(list((options.get("customTimeouts") or {}).values()))):
            _malformed(record, "options")
    elif record["kind"] == "plainRead":
        _expect_source(record)
        if record["what"] not in _PLAIN_READ_KINDS:
            _malformed(record, "what")
    elif record["kind"] == "skippedApplies":
        for site in record["sites"]:
            if not (isinstance(site, dict) and isinstance(site.get("file"), str) and _is_int(site.get("line"))
                    and _is_int(site.get("count"))):
                _malformed(record, "sites")
    return record


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _expect(record: dict[str, Any], name: str, kinds: tuple[type | None, ...], *, required: bool) -> None:
    if name not in record:
        if required:
            _malformed(record, name)
        return
    value = record[name]
    if not any((value is None) if kind is None else (type(value) is kind) for kind in kinds):
        _malformed(record, name)


def _expect_source(record: dict[str, Any]) -> None:
    source = record.get("source")
    if source is not None and not (isinstance(source.get("file"), str) and _is_int(source.get("line"))):
        _malformed(record, "source")


def _malformed(record: dict[str, Any], name: str) -> None:
    raise ProgramError(f"the Pulumi program's run wrote a malformed {record.get('kind')} record (field {name!r}); "
                       "something other than crossgate's host wrote to its record pipe, so the run can't be trusted")


def _start_host(command: list[str], project: Project, env: dict[str, str], output: Any, read_fd: int,
                write_fd: int) -> subprocess.Popen:
    """Start ``_host.py`` with ``command`` (the project's interpreter, after any launcher), writing
    records to ``write_fd``."""
    interpreter = command[-1]
    try:
        proc = subprocess.Popen(
            [*command, "-u", str(HOST)],
            cwd=project.program_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
        )
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        output.close()
        raise ProgramError(f"cannot start the program's interpreter {interpreter}: {exc.strerror}") from exc
    os.close(write_fd)
    return proc


class _Records:
    """Turns the host's records into the outcome, handing each resource on as it arrives."""

    def __init__(self, on_resource: Callable[[PlannedResource], None]) -> None:
        self._on_resource = on_resource
        self._outcome = ProgramOutcome()
        self._invokes: dict[tuple[str, bool], int] = {}
        self._provider_inputs: dict[str, struct_pb2.Struct] = {}
        self._notices: list[str] = []
        self.error: dict[str, Any] | None = None
        self.done = False
        #: Records taken so far, checked against the count the ``done`` record carries.
        self._taken = 0

    def take(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "resource":
            self._resource(record)
        elif kind == "plainRead":
            source = record.get("source")
            self._outcome.plain_reads.append(PlainRead(
                PlainReadKind(record["what"]), record["name"], record["via"],
                SourceLocation(source["file"], source["line"]) if source else None))
        elif kind == "skippedApplies":
            self._notices.append(_skipped_applies_notice(record["sites"]))
        elif kind == "notice":
            self._notices.append(record["message"])
        elif kind == "invoke":
            key = (record["token"], record["placeholder"])
            self._invokes[key] = self._invokes.get(key, 0) + 1
        elif kind == "log":
            self._outcome.warnings.append(f"{record['severity']}: {record['message']}")
        elif kind == "error":
            self.error = record
        elif kind == "done":
            if record["records"] != self._taken:
                raise ProgramError(
                    f"the program's host wrote {record['records']} records before it finished and the gate "
                    f"received {self._taken}: something other than the host wrote to its record pipe, or "
                    "redirected it, so the plan can't be trusted")
            self.done = True
        self._taken += 1

    def _resource(self, record: dict[str, Any]) -> None:
        provider = record.get("provider")
        resource = _decode_resource(record, self._provider_inputs.get(urns.provider_urn(provider))
                                    if provider else None)
        if resource.type.startswith("pulumi:providers:"):
            self._provider_inputs[resource.urn] = resource.properties
        if resource.type == "pulumi:pulumi:Stack":
            self._outcome.root_urn = resource.urn
        self._outcome.resources.append(resource)
        self._notices.extend(_notices(resource))
        self._on_resource(resource)

    def outcome(self) -> ProgramOutcome:
        """The outcome so far: the program's own log lines first, then the notices."""
        self._outcome.invokes = [InvokeAnswer(token, placeholder, n)
                                 for (token, placeholder), n in sorted(self._invokes.items())]
        self._outcome.warnings.extend(self._notices)
        self._notices = []
        return self._outcome


def _where(source: SourceLocation | None) -> str:
    return f" ({source.file}:{source.line})" if source else ""


def _notices(resource: PlannedResource) -> list[str]:
    """One line for each thing about a resource a preview can't show and the plan must say."""
    if resource.remote:
        return [f"remote component {resource.urn}{_where(resource.source)} accepted by "
                f"--allow-remote-component {resource.type}: the resources its provider "
                f"({resource.type.split(':')[0]}) creates at deployment are not in the plan"]
    if resource.dynamic_provider:
        return [f"dynamic resource {resource.urn}{_where(resource.source)} runs the code of its provider "
                f"{resource.dynamic_provider} at deployment; the plan records its inputs only"]
    return []


def _skipped_applies_notice(sites: list[dict[str, Any]]) -> str:
    total = sum(int(s["count"]) for s in sites)
    where = ", ".join(f"{s['file']}:{s['line']}" + (f" (x{s['count']})" if s["count"] > 1 else "") for s in sites)
    return (f"{total} apply callback(s) did not run because their input is unknown until deployment, as in "
            f"`pulumi preview`; resources they would create are not in the plan: {where}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str, where: str) -> float:
    """A custom timeout in seconds, parsed as the engine parses it (Go's ``time.ParseDuration``)."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ProgramError(f"{where}: '{text}' is not a duration (e.g. \"5m\", \"1h30m\")")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return -seconds if text.startswith("-") else seconds
