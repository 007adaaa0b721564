"""Runs a Pulumi Python program offline and turns its registrations into :class:`PlannedResource`.

The program runs in a child process (the project's interpreter, see ``_host.py``) so that its
imports, globals and crashes never touch the gate. Records stream back over a pipe and are handed
to ``on_resource`` as they arrive, so policy evaluation overlaps with the program.

Invokes have no cloud behind them. Those in ``placeholders.json`` (the caller's identity, for
example) are answered with documented placeholder values; any other invoke gets an empty result.
Every invoke is listed in the result.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from google.protobuf import struct_pb2

from .. import wire
from ..errors import InputError, ProgramError, read_json
from ..model import InvokeAnswer, PlannedResource, SourceLocation
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
    warnings: list[str] = field(default_factory=list)
    root_urn: str = ""


def load_stack_reference_outputs(path: str | None) -> dict[str, dict[str, Any]]:
    if not path:
        return {}
    doc = read_json(path, f"--stack-reference-outputs {path}")
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(f"--stack-reference-outputs {path} must map stack names to objects of outputs")
    return doc


def _decode_resource(record: dict[str, Any]) -> PlannedResource:
    props = struct_pb2.Struct()
    raw = base64.b64decode(record["props"]) if record["props"] else b""
    if raw:
        props.ParseFromString(raw)
    source = record.get("source")
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
    )


def run_program(
    project: Project,
    config: StackConfig,
    *,
    on_resource: Callable[[PlannedResource], None] = lambda r: None,
    stack_reference_outputs: dict[str, dict[str, Any]] | None = None,
    deadline: float | None = None,
    verbose: bool = False,
    launcher: Sequence[str] = (),
) -> ProgramOutcome:
    """Run the program to completion; raise :class:`ProgramError` if it fails in any way.

    ``launcher`` prefixes the command (the engine's network isolation, ``unshare ...``)."""
    interpreter = project.interpreter
    options = {
        "project": project.name,
        "stack": config.stack.rsplit("/", 1)[-1],
        "root": str(project.root),
        "programDir": str(project.program_dir),
        "invokeAnswers": default_invoke_answers(),
        "stackReferenceOutputs": stack_reference_outputs or {},
    }
    read_fd, write_fd = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
    env.update(config.env())
    env.update({
        "CROSSGATE_HOST": json.dumps(options),
        "CROSSGATE_RECORD_FD": str(write_fd),
        "PULUMI_DRY_RUN": "true",
        "PULUMI_PROJECT": project.name,
        "PULUMI_STACK": options["stack"],
        "PYTHONUNBUFFERED": "1",
    })
    output = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            [*launcher, interpreter, "-u", str(HOST)],
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
        raise ProgramError(f"cannot start the program's interpreter {interpreter}: {exc.strerror}") from exc
    os.close(write_fd)

    outcome = ProgramOutcome()
    invokes: dict[tuple[str, bool], int] = {}
    error: dict[str, Any] | None = None
    done = False
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
                    record = json.loads(line)
                    kind = record["kind"]
                    if kind == "resource":
                        resource = _decode_resource(record)
                        if resource.type == "pulumi:pulumi:Stack":
                            outcome.root_urn = resource.urn
                        outcome.resources.append(resource)
                        on_resource(resource)
                    elif kind == "invoke":
                        key = (record["token"], record["placeholder"])
                        invokes[key] = invokes.get(key, 0) + 1
                    elif kind == "log":
                        outcome.warnings.append(f"{record['severity']}: {record['message']}")
                    elif kind == "error":
                        error = record
                    elif kind == "done":
                        done = True
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

    outcome.invokes = [InvokeAnswer(token, placeholder, n) for (token, placeholder), n in sorted(invokes.items())]
    if error is not None:
        logged = "; ".join(w for w in outcome.warnings if w.startswith("error:"))
        message = error["message"]
        if logged and "logged" in message:
            message = f"{message}: {logged[len('error: '):]}"
        raise ProgramError(f"the Pulumi program failed: {message}",
                           detail=(error.get("traceback") or "") + printed)
    if not done or code != 0:
        raise ProgramError(f"the Pulumi program exited with code {code} before finishing",
                           detail=printed)
    return outcome
