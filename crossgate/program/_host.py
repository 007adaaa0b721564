"""Runs a Pulumi Python program under the SDK's mock runtime and streams what it registers.

This file runs *inside the project's interpreter* (its virtualenv), which may not have crossgate
installed, so it depends on the pulumi SDK and the standard library only. It is started by
``crossgate.program.runner`` with:

* ``CROSSGATE_HOST``: JSON options (project, stack, program dir, project root, invoke answers,
  stack reference outputs, secure config keys that weren't decrypted, accepted remote components);
* file descriptor ``CROSSGATE_RECORD_FD``: where it writes one JSON record per line.

Both are removed from the environment before the program runs.

Records: ``resource`` (one per registration, with the wire-format inputs as base64 protobuf and the
options the engine hands packs), ``invoke``, ``log`` (warnings and errors the program logged),
``plainSecretRead`` (an undecrypted secure value read with a plain getter), ``skippedApplies``
(apply callbacks a preview skips), ``error`` (why the run failed) and finally ``done``.
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

OPTIONS: dict[str, Any] = json.loads(os.environ.pop("CROSSGATE_HOST"))
_RECORD_FD = int(os.environ.pop("CROSSGATE_RECORD_FD"))
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


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _load_helpers() -> Any:
    """The host's sibling modules, imported without leaving crossgate's directory on ``sys.path``
    (where a program's own ``import runner`` would find the gate's module)."""
    here = os.path.dirname(os.path.abspath(__file__))
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        import _host_hooks
        import _host_shapes
        import _host_transforms
    finally:
        while here in sys.path:
            sys.path.remove(here)
    return _host_hooks, _host_shapes, _host_transforms


def main() -> int:
    import pulumi
    from google.protobuf import empty_pb2
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.stack import run_in_stack

    hooks, shapes, transforms = _load_helpers()
    root = os.path.realpath(OPTIONS["root"])
    frames = hooks.ProjectFrames(root)
    skipped = hooks.SkippedApplies(frames)
    skipped.install()
    hooks.PlainSecretReads(
        OPTIONS.get("undecrypted") or [], frames,
        lambda key, getter, site: emit({"kind": "plainSecretRead", "key": key, "getter": getter, "source": site}),
    ).install()
    dynamic = hooks.DynamicProviders()
    dynamic.install()
    hooks.guard_plain_invokes(OfflineError)

    registrations = Registrations(frames)
    monitor = make_monitor(pulumi_mocks, registrations, transforms.Transforms(),
                           shapes.OutputShaper(shapes.load_conversions()), dynamic)
    logger = make_logger()
    pulumi.runtime.configure(pulumi_mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=pulumi_mocks.MockEngine(logger),
        project=OPTIONS["project"],
        stack=OPTIONS["stack"],
        dry_run=True,
        organization=OPTIONS.get("organization") or "organization",
        callbacks=None,
    ))
    program_dir = OPTIONS["programDir"]

    def program() -> None:
        pulumi.runtime.register_stack_transformation(registrations.transformation)
        os.chdir(program_dir)
        runpy.run_path(program_dir, run_name="__main__")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    make_registration_cheap(loop)
    try:
        loop.run_until_complete(run_in_stack(program))
        sites = skipped.counts()
        if sites:
            emit({"kind": "skippedApplies", "sites": sites})
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


class Registrations:
    """What the SDK tells the host about each resource before its registration arrives: the line that
    declared it, its class and the program's order. Registrations arrive out of order."""

    def __init__(self, frames: Any) -> None:
        self._frames = frames
        self._pending: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._order = 0

    def transformation(self, args: Any) -> Any:
        """A stack transformation: runs synchronously inside the resource's constructor, so the caller
        is on the stack. It records and drops aliases, nothing else."""
        import pulumi

        with self._lock:
            self._order += 1
            self._pending[(args.type_, args.name)].append(
                (self._order, self._frames.site(skip_self=args.resource), type(args.resource)))
        opts = args.opts
        if opts.aliases:
            # Aliases only matter against existing state, which a preview from scratch has none
            # of; azure-native attaches ~30 per resource and resolving them dominates the cost.
            opts = pulumi.ResourceOptions.merge(opts, None)
            opts.aliases = None
        return pulumi.ResourceTransformationResult(args.props, opts)

    def take(self, type_: str, name: str) -> tuple[int, dict[str, Any] | None, type | None]:
        with self._lock:
            key = (type_, name)
            queue = self._pending.get(key)
            found = queue.popleft() if queue else (0, None, None)
            if queue is not None and not queue:
                del self._pending[key]
            return found


def make_monitor(pulumi_mocks: Any, registrations: Registrations, transforms: Any, shaper: Any,
                 dynamic: Any) -> Any:
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import resource_pb2

    project, stack = OPTIONS["project"], OPTIONS["stack"]
    invoke_answers: dict[str, dict[str, Any]] = OPTIONS.get("invokeAnswers") or {}
    stack_outputs: dict[str, dict[str, Any]] = OPTIONS.get("stackReferenceOutputs") or {}
    allowed_remote = set(OPTIONS.get("allowRemoteComponents") or ())
    seen_urns: set[str] = set()
    protected: dict[str, bool] = {}
    lock = threading.Lock()
    default_providers: dict[str, str] = {}

    def urn_for(parent: str, type_: str, name: str) -> str:
        # As the engine builds it: the parent's qualified type is prefixed, except the root stack's.
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != ROOT_STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{stack}::{project}::{type_}::{name}"

    def provider_ref(request: Any) -> str:
        if request.provider:
            return request.provider
        if not (request.custom or request.remote):
            return ""
        package = request.type.split(":")[0]
        if package == "pulumi":
            return ""
        ref = default_providers.get(package)
        if ref is None:
            version = (request.version or "").replace(".", "_")
            name = f"default_{version}" if version else "default"
            urn = f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::{name}"
            ref = f"{urn}::{UNKNOWN}"
            default_providers[package] = ref
            emit({"kind": "resource", "urn": urn, "type": f"pulumi:providers:{package}", "name": name,
                  "custom": True, "parent": None, "dependencies": [], "propertyDependencies": {},
                  "provider": None, "protect": False, "props": "", "source": None, "order": 0})
        return ref

    def refuse_remote(request: Any, urn: str) -> None:
        package = request.type.split(":")[0]
        version = f" {request.version}" if request.version else ""
        raise OfflineError(
            f"remote component '{request.name}' ({request.type}, package {package}{version}) is constructed "
            f"by its provider at deployment, so the resources it creates can't be seen offline; accept it "
            f"with --allow-remote-component {request.type} to gate the rest of the program without them")

    class Monitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            urn = urn_for(request.parent, request.type, request.name)
            with lock:
                if urn in seen_urns:
                    raise OfflineError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
                seen_urns.add(urn)
            if request.remote and request.type not in allowed_remote:
                refuse_remote(request, urn)
            request = transforms.apply(request)
            transforms.remember(urn, request.parent, request)
            # As the engine does: a child that doesn't set protect inherits its parent's.
            protect = request.protect if request.HasField("protect") else protected.get(request.parent, False)
            protected[urn] = protect
            seq, source, cls = registrations.take(request.type, request.name)
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
                "protect": protect,
                "options": resource_options(request),
                "remote": bool(request.remote),
                "dynamicProvider": dynamic.take(request.type, request.name),
                "props": base64.b64encode(request.object.SerializeToString()).decode(),
                "source": source,
                "order": seq,
            })
            if request.type == ROOT_STACK_TYPE:
                return resource_pb2.RegisterResourceResponse(urn=urn)
            # A preview carries inputs over as outputs, shaped as the provider returns them; everything
            # else (ids, generated names, principal ids) is absent, which the SDK resolves as unknown
            # during a dry run.
            outputs = shaper.outputs(cls, request.type, request.object) if request.custom else request.object
            return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=outputs)

        def ReadResource(self, request: Any) -> Any:
            if request.type == "pulumi:pulumi:StackReference":
                name = request.properties.fields["name"].string_value if "name" in request.properties.fields else request.name
                if name not in stack_outputs:
                    raise OfflineError(
                        f"StackReference '{name}' can't be read offline; supply its outputs with "
                        f"--stack-reference-outputs FILE ({{\"{name}\": {{\"output\": ...}}}})")
                emit({"kind": "invoke", "token": f"StackReference:{name}", "placeholder": False})
                props = struct_pb2.Struct()
                props.update({"name": name, "outputs": stack_outputs[name], "secretOutputNames": []})
                urn = urn_for(request.parent, request.type, request.name)
                return resource_pb2.ReadResourceResponse(urn=urn, properties=props)
            raise OfflineError(f"reading existing resource '{request.name}' ({request.type}, id "
                               f"{request.id}) needs the cloud; crossgate can't do it offline")

        def Invoke(self, request: Any) -> Any:
            request = transforms.apply_to_invoke(request)
            token = request.tok
            if token == "pulumi:pulumi:getResource":
                raise OfflineError("looking up existing resources (pulumi:pulumi:getResource) needs the cloud")
            answer = invoke_answers.get(token)
            emit({"kind": "invoke", "token": token, "placeholder": answer is not None})
            if answer is None:
                # No cloud behind it and no documented placeholder: unknown, as the engine answers an
                # invoke whose result can't be known during a preview.
                return resource_pb2.ResourceInvokeResponse(unknown=True)
            ret = struct_pb2.Struct()
            ret.update(answer)
            return resource_pb2.ResourceInvokeResponse(**{"return": ret})

        def Call(self, request: Any) -> Any:
            # A method of a resource, served by its provider: nothing answers it offline, so its
            # result is unknown, as an invoke without a placeholder.
            from pulumi.runtime.proto import provider_pb2

            emit({"kind": "invoke", "token": request.tok, "placeholder": False})
            ret = struct_pb2.Struct()
            ret.fields["result"].string_value = UNKNOWN
            return provider_pb2.CallResponse(**{"return": ret})

        def RegisterResourceOutputs(self, request: Any) -> Any:
            return empty_pb2.Empty()

        def RegisterStackTransform(self, request: Any) -> Any:
            transforms.add_stack_transform(request)
            return empty_pb2.Empty()

        def RegisterStackInvokeTransform(self, request: Any) -> Any:
            transforms.add_stack_invoke_transform(request)
            return empty_pb2.Empty()

    class Mocks(pulumi_mocks.Mocks):
        def new_resource(self, args: Any) -> Any:  # pragma: no cover - RegisterResource is overridden
            return "", dict(args.inputs)

        def call(self, args: Any) -> Any:  # pragma: no cover - Invoke is overridden
            return {}

    return Monitor(Mocks())


def resource_options(request: Any) -> dict[str, Any]:
    """The options the engine hands packs (``AnalyzerResourceOptions``), as the program set them."""
    options: dict[str, Any] = {}
    if request.ignoreChanges:
        options["ignoreChanges"] = list(request.ignoreChanges)
    if request.deleteBeforeReplaceDefined or request.deleteBeforeReplace:
        options["deleteBeforeReplace"] = bool(request.deleteBeforeReplace)
    if request.additionalSecretOutputs:
        options["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
    if request.HasField("customTimeouts"):
        timeouts = {k: getattr(request.customTimeouts, k) for k in ("create", "update", "delete", "read")
                    if getattr(request.customTimeouts, k)}
        if timeouts:
            options["customTimeouts"] = timeouts
    return options


def make_logger() -> Any:
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

    return RecordingLogger()


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
