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
``plainRead`` (a value unknown offline the program took as a plain value: an undecrypted secure
value read with a plain getter, or a plain invoke's unknown result), ``skippedApplies``
(apply callbacks a preview skips), ``notice`` (one line the report must show), ``error`` (why the
run failed) and finally ``done``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
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


#: Records written so far; the ``done`` record carries the count, so records that never reached
#: the gate (the program pointed the pipe elsewhere for a while) fail the run.
_EMITTED = [0]


def emit(record: dict[str, Any]) -> None:
    line = json.dumps(record, separators=(",", ":"))
    with _RECORDS_LOCK:
        if record.get("kind") == "done":
            line = json.dumps({**record, "records": _EMITTED[0]}, separators=(",", ":"))
        _RECORDS.write(line + "\n")
        _EMITTED[0] += 1


def _load_helpers() -> Any:
    """The host's sibling modules, imported without leaving crossgate's directory on ``sys.path``
    (where a program's own ``import runner`` would find the gate's module)."""
    here = os.path.dirname(os.path.abspath(__file__))
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        import _host_aliases
        import _host_hooks
        import _host_leftovers
        import _host_monitor
        import _host_outputs
        import _host_shapes
        import _host_shortcuts
        import _host_transforms
    finally:
        while here in sys.path:
            sys.path.remove(here)
    return (_host_aliases, _host_hooks, _host_leftovers, _host_monitor, _host_outputs, _host_shapes,
            _host_shortcuts, _host_transforms)


def main() -> int:
    aliases, hooks, leftovers, monitors, outputs, shapes, shortcuts, transforms = _load_helpers()
    # Faster paths through SDK internals (issue 14); on a release they weren't checked against, the SDK's
    # own paths run unchanged.
    outputs.install()
    shortcuts.install(outputs.KNOWN_RELEASES)
    frames = hooks.ProjectFrames(os.path.realpath(OPTIONS["root"]))
    skipped, dynamic = install_hooks(hooks, frames, monitors.OfflineError)
    registrations = Registrations(frames, aliases.check)
    monitor = monitors.RecordingMonitor(
        OPTIONS, emit, registrations=registrations, transforms=transforms.Transforms(),
        shaper=shapes.OutputShaper(shapes.load_conversions()), dynamic=dynamic)
    logger = configure_runtime(monitor)
    return run(registrations, skipped, logger, monitor, leftovers.Leftovers(describe))


def install_hooks(hooks: Any, frames: Any, offline_error: type[Exception]) -> tuple[Any, Any]:
    """The SDK hooks that report what a preview hides (see ``_host_hooks``)."""
    skipped = hooks.SkippedApplies(frames)
    skipped.install()
    plain_reads = hooks.PlainReads(emit)
    hooks.PlainSecretReads(OPTIONS.get("undecrypted") or [], frames, plain_reads).install()
    dynamic = hooks.DynamicProviders()
    dynamic.install()
    hooks.guard_plain_invokes(offline_error, frames, plain_reads)
    return skipped, dynamic


def configure_runtime(monitor: Any) -> Any:
    """Point the SDK at the recording monitor, in preview mode; returns the logger it reports to."""
    import pulumi
    from google.protobuf import empty_pb2
    from pulumi.runtime import mocks as pulumi_mocks

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
    return logger


def run(registrations: "Registrations", skipped: Any, logger: Any, monitor: Any, leftovers: Any) -> int:
    """Run the program in its stack to completion; report how it ended, and fail it if it left work
    behind that the plan can't show (see ``_host_leftovers``)."""
    import pulumi
    from pulumi.runtime.stack import run_in_stack

    program_dir = OPTIONS["programDir"]

    def program() -> None:
        pulumi.runtime.register_stack_transformation(registrations.transformation)
        os.chdir(program_dir)
        leftovers.before_program()
        with pump.body():
            runpy.run_path(program_dir, run_name="__main__")
        leftovers.after_body(monitor)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    make_registration_cheap(loop)
    pump = RegistrationPump(loop)
    pump.install()
    try:
        loop.run_until_complete(run_in_stack(program))
        left = leftovers.problem(loop, pump.constructed_count, registrations.reached)
        if left is not None:
            emit({"kind": "error", "message": left, "traceback": ""})
            return 1
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

    def __init__(self, frames: Any, check_aliases: Any) -> None:
        self._frames = frames
        self._check_aliases = check_aliases
        self._pending: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._order = 0
        #: Resources that reached the monitor (registered or read).
        self.reached = 0

    def transformation(self, args: Any) -> Any:
        """A stack transformation: runs synchronously inside the resource's constructor, so the caller
        is on the stack. It records and drops aliases (see ``_host_aliases``), nothing else."""
        import pulumi

        with self._lock:
            self._order += 1
            self._pending[(args.type_, args.name)].append(
                (self._order, self._frames.site(skip_self=args.resource), type(args.resource)))
        opts = args.opts
        if opts.aliases:
            # The engine sends packs only an alias matched against existing state, which a preview
            # from scratch has none of; it still refuses one that isn't a URN.
            self._check_aliases(opts.aliases, args.type_, args.name)
            opts = pulumi.ResourceOptions.merge(opts, None)
            opts.aliases = None
        return pulumi.ResourceTransformationResult(args.props, opts)

    def read(self) -> None:
        """A resource read rather than registered (a ``StackReference``)."""
        with self._lock:
            self.reached += 1

    def take(self, type_: str, name: str) -> tuple[int, dict[str, Any] | None, type | None]:
        with self._lock:
            self.reached += 1
            key = (type_, name)
            queue = self._pending.get(key)
            found = queue.popleft() if queue else (0, None, None)
            if queue is not None and not queue:
                del self._pending[key]
            return found


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
    # Registration allocates millions of objects; frequent collections dominated the run. Freeze
    # what is loaded, and collect the young generation rarely: with the registration pump most of
    # it is garbage by then (10,004 resources: 136 young collections at 50,000 took 4.4 s of 20 s;
    # at 1,000,000, 3 took 3.9 s and the host peaked at 261 MB).
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 100)


#: Resources constructed between two turns of the event loop while the program body runs.
PUMP_EVERY = 256
#: Turns of the loop per pump: enough for the registrations started since the last pump to finish.
PUMP_TURNS = 64


class RegistrationPump:
    """Turns the event loop every ``PUMP_EVERY`` resources while the program body runs.

    The SDK runs the whole program body in one step of one task and only schedules registrations
    meanwhile, so none completes before the body returns and every resource's pending outputs,
    futures and serialised inputs stay alive at once (890 MB at 10,000 resources). Turning the loop
    as the program goes, as the SDK's own synchronous invokes do, lets each registration finish and
    be freed (measured with ``make bench``). A program of fewer than ``PUMP_EVERY`` resources never
    pumps.

    Pumps only from the body's own step: a resource constructed in an apply callback or during a
    synchronous invoke is already inside a turn of the loop. Unlike the SDK's ``_sync_await``, which
    refills the ready queue to its length on entry (so its padding grows with every call), it
    refills only what the step that runs the body still owes the loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._body_task: asyncio.Task | None = None
        self._owed = 0
        self._constructed = 0

    def install(self) -> None:
        import pulumi

        construct = pulumi.Resource.__init__
        pump = self

        def construct_and_pump(resource: Any, *args: Any, **kwargs: Any) -> None:
            construct(resource, *args, **kwargs)
            # The SDK's synthetic resources that only carry a dependency (``dependency=True``, the
            # seventh argument after ``self``) are never registered.
            if not (kwargs.get("dependency") or (len(args) > 6 and args[6])):
                pump.constructed()

        pulumi.Resource.__init__ = construct_and_pump

    @contextlib.contextmanager
    def body(self) -> Any:
        self._body_task = asyncio.current_task(self._loop)
        self._owed = len(self._loop._ready)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            self._body_task = None

    @property
    def constructed_count(self) -> int:
        """Resources constructed so far, anywhere in the program."""
        return self._constructed

    def constructed(self) -> None:
        self._constructed += 1
        if (self._constructed % PUMP_EVERY == 0 and self._body_task is not None
                and asyncio.current_task(self._loop) is self._body_task):
            self._turn()

    def _turn(self) -> None:
        loop, task = self._loop, self._body_task

        async def turns() -> None:
            for _ in range(PUMP_TURNS):
                await asyncio.sleep(0)

        asyncio.tasks._leave_task(loop, task)
        try:
            done = asyncio.ensure_future(turns(), loop=loop)
            while not done.done():
                loop._run_once()  # type: ignore[attr-defined]
            ready = loop._ready  # type: ignore[attr-defined]
            while len(ready) < self._owed:
                handle = asyncio.Handle(lambda: None, [], loop)
                handle.cancel()
                ready.append(handle)
        finally:
            asyncio.tasks._enter_task(loop, task)


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
