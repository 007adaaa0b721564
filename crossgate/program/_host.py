"""Runs a Pulumi Python program under the SDK's mock runtime and streams what it registers.

This file runs *inside the project's interpreter* (its virtualenv), which may not have crossgate
installed, so it depends on the pulumi SDK and the standard library only. It is started by
``crossgate.program.runner`` with:

* ``CROSSGATE_HOST``: JSON options (project, stack, program dir, project root, invoke answers,
  stack reference outputs);
* file descriptor ``CROSSGATE_RECORD_FD``: where it writes one JSON record per line.

Records: ``resource`` (one per registration, with the wire-format inputs as base64 protobuf),
``invoke``, ``log`` (warnings and errors the program logged), ``error`` (why the run failed) and
finally ``done``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import json
import logging
import os
import runpy
import sys
import threading
import traceback
from typing import Any

OPTIONS: dict[str, Any] = json.loads(os.environ["CROSSGATE_HOST"])
_RECORD_FD = int(os.environ["CROSSGATE_RECORD_FD"])
# Processes the program starts must not hold the record pipe open after the host exits.
os.set_inheritable(_RECORD_FD, False)
_RECORDS = os.fdopen(_RECORD_FD, "w", buffering=1, encoding="utf-8")
_RECORDS_LOCK = threading.Lock()


def emit(record: dict[str, Any]) -> None:
    line = json.dumps(record, separators=(",", ":"))
    with _RECORDS_LOCK:
        _RECORDS.write(line + "\n")


class OfflineError(Exception):
    """The program asked for something that does not exist offline."""


def main() -> int:
    import pulumi
    from google.protobuf import empty_pb2
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.stack import run_in_stack

    project, stack = OPTIONS["project"], OPTIONS["stack"]
    root = os.path.realpath(OPTIONS["root"])
    program_dir = OPTIONS["programDir"]
    invoke_answers: dict[str, dict[str, Any]] = OPTIONS.get("invokeAnswers") or {}
    stack_outputs: dict[str, dict[str, Any]] = OPTIONS.get("stackReferenceOutputs") or {}
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    root_stack_type = "pulumi:pulumi:Stack"

    # Sources found by the stack transformation, consumed when the registration arrives.
    sources: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
    sources_lock = threading.Lock()
    seen_urns: set[str] = set()
    order = [0]  # constructor order, which is the program's order; registrations arrive out of order
    excluded = ("site-packages", "dist-packages", os.sep + "pulumi" + os.sep)

    def declaring_frame(resource: Any) -> dict[str, Any] | None:
        # The first frame in the project's own files, skipping the constructors of the resource
        # itself (a CustomResource or ComponentResource subclass the project defines).
        frame = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if (filename.startswith(root) and not any(part in filename for part in excluded)
                    and frame.f_locals.get("self") is not resource):
                return {"file": os.path.relpath(filename, root), "line": frame.f_lineno}
            frame = frame.f_back
        return None

    def transformation(args: "pulumi.ResourceTransformationArgs") -> "pulumi.ResourceTransformationResult":
        # Runs synchronously inside the resource's constructor, so the caller is on the stack.
        with sources_lock:
            order[0] += 1
            sources[(args.type_, args.name)].append((order[0], declaring_frame(args.resource)))
        opts = args.opts
        if opts.aliases:
            # Aliases only matter against existing state, which a preview from scratch has none
            # of; azure-native attaches ~30 per resource and resolving them dominates the cost.
            opts = pulumi.ResourceOptions.merge(opts, None)
            opts.aliases = None
        return pulumi.ResourceTransformationResult(args.props, opts)

    def urn_for(parent: str, type_: str, name: str) -> str:
        # As the engine builds it: the parent's qualified type is prefixed, except the root stack's.
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != root_stack_type:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{stack}::{project}::{type_}::{name}"

    default_providers: dict[str, str] = {}

    def provider_ref(request: Any) -> str:
        if request.provider:
            return request.provider
        if not request.custom:
            return ""
        package = request.type.split(":")[0]
        if package == "pulumi":
            return ""
        ref = default_providers.get(package)
        if ref is None:
            version = (request.version or "").replace(".", "_")
            name = f"default_{version}" if version else "default"
            urn = f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::{name}"
            ref = f"{urn}::{unknown}"
            default_providers[package] = ref
            emit({"kind": "resource", "urn": urn, "type": f"pulumi:providers:{package}", "name": name,
                  "custom": True, "parent": None, "dependencies": [], "propertyDependencies": {},
                  "provider": None, "protect": False, "props": "", "source": None, "order": 0})
        return ref

    class Monitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            urn = urn_for(request.parent, request.type, request.name)
            with sources_lock:
                if urn in seen_urns:
                    raise OfflineError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
                seen_urns.add(urn)
            with sources_lock:
                key = (request.type, request.name)
                queue = sources.get(key)
                seq, source = queue.popleft() if queue else (0, None)
                if queue is not None and not queue:
                    del sources[key]
            emit({
                "kind": "resource",
                "urn": urn,
                "type": request.type,
                "name": request.name,
                "custom": bool(request.custom),
                "parent": request.parent or None,
                "dependencies": list(request.dependencies),
                "propertyDependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "provider": provider_ref(request) or None,
                "protect": bool(request.protect),
                "props": base64.b64encode(request.object.SerializeToString()).decode(),
                "source": source,
                "order": seq,
            })
            if request.type == root_stack_type:
                return resource_pb2.RegisterResourceResponse(urn=urn)
            # A preview carries inputs over as outputs; everything else (ids, generated names,
            # principal ids) is absent, which the SDK resolves as unknown during a dry run.
            return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=request.object)

        def ReadResource(self, request: Any) -> Any:
            if request.type == "pulumi:pulumi:StackReference":
                name = request.properties.fields["name"].string_value if "name" in request.properties.fields else request.name
                if name not in stack_outputs:
                    raise OfflineError(
                        f"StackReference '{name}' can't be read offline; supply its outputs with "
                        f"--stack-reference-outputs FILE ({{\"{name}\": {{\"output\": ...}}}})")
                emit({"kind": "invoke", "token": f"StackReference:{name}", "placeholder": False})
                from google.protobuf import struct_pb2
                props = struct_pb2.Struct()
                props.update({"name": name, "outputs": stack_outputs[name], "secretOutputNames": []})
                urn = urn_for(request.parent, request.type, request.name)
                return resource_pb2.ReadResourceResponse(urn=urn, properties=props)
            raise OfflineError(f"reading existing resource '{request.name}' ({request.type}, id "
                               f"{request.id}) needs the cloud; crossgate can't do it offline")

        def Invoke(self, request: Any) -> Any:
            token = request.tok
            if token == "pulumi:pulumi:getResource":
                raise OfflineError("looking up existing resources (pulumi:pulumi:getResource) needs the cloud")
            answer = invoke_answers.get(token)
            emit({"kind": "invoke", "token": token, "placeholder": answer is not None})
            from google.protobuf import struct_pb2
            ret = struct_pb2.Struct()
            if answer is not None:
                ret.update(answer)
            return resource_pb2.ResourceInvokeResponse(**{"return": ret})

        def RegisterResourceOutputs(self, request: Any) -> Any:
            return empty_pb2.Empty()

    class Mocks(pulumi_mocks.Mocks):
        def new_resource(self, args: Any) -> Any:  # pragma: no cover - RegisterResource is overridden
            return "", dict(args.inputs)

        def call(self, args: Any) -> Any:  # pragma: no cover - Invoke is overridden
            return {}

    class RecordingLogger(logging.Logger):
        """Receives pulumi.log; an error logged by the program fails the run, as in the engine."""

        def __init__(self) -> None:
            super().__init__("crossgate.program")
            self.errors = 0

        def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
            emit({"kind": "log", "severity": "warning", "message": str(msg)})

        def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
            self.errors += 1
            emit({"kind": "log", "severity": "error", "message": str(msg)})

        def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
            print(msg, file=sys.stderr)

        def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
            pass

    logger = RecordingLogger()
    monitor = Monitor(Mocks())
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
    pulumi.runtime.configure(pulumi_mocks.MockSettings(
        monitor=monitor,
        monitor_features=features,
        engine=pulumi_mocks.MockEngine(logger),
        project=project,
        stack=stack,
        dry_run=True,
        organization=OPTIONS.get("organization") or "organization",
        callbacks=None,
    ))

    def program() -> None:
        pulumi.runtime.register_stack_transformation(transformation)
        os.chdir(program_dir)
        runpy.run_path(program_dir, run_name="__main__")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    make_registration_cheap(loop)
    try:
        loop.run_until_complete(run_in_stack(program))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the gate
        emit({"kind": "error", "message": describe(exc), "traceback": traceback.format_exc()})
        return 1
    finally:
        loop.close()
    if logger.errors:
        emit({"kind": "error", "message": f"the program logged {logger.errors} error(s)", "traceback": ""})
        return 1
    emit({"kind": "done"})
    return 0


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on the calling thread.

    The SDK hands every monitor RPC to the loop's default executor because a real monitor is a
    remote gRPC server. The recording monitor answers at once and never waits on the loop, so a
    thread hop per call only adds GIL contention.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting coroutine
            future.set_exception(exc)
        return future


def make_registration_cheap(loop: asyncio.AbstractEventLoop) -> None:
    """Remove costs a preview from scratch does not need (measured with ``make bench``)."""
    import gc

    import pulumi
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    loop.set_default_executor(InlineExecutor())
    # The SDK walks the whole Python stack (with a stat per frame) for every resource to fill in
    # sourcePosition, which mocks then drop; the stack transformation finds the source instead.
    sdk_resource._get_stack_trace = lambda: source_pb2.StackTrace()
    # Debug logs go nowhere offline, but each one builds several strings and a protobuf.
    pulumi.log.debug = lambda *args, **kwargs: None
    # Registration allocates many long-lived objects; frequent full collections dominated the
    # run. Freeze what is loaded and collect rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def describe(exc: BaseException) -> str:
    """One line naming the cause, without the traceback."""
    if type(exc).__name__ == "RunError":
        return str(exc).strip().splitlines()[0] if str(exc).strip() else "RunError"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


if __name__ == "__main__":
    code = main()
    _RECORDS.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
