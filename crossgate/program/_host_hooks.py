"""Hooks into the pulumi SDK that let the host see what a preview hides.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.
Each hook observes and reports; none changes what the program computes, except where a value the
program asked for can't exist offline (then it hands the program a stand-in and reports the read, or,
when no stand-in can be built, raises, naming it).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
from typing import Any, Callable

_EXCLUDED = ("site-packages", "dist-packages", os.sep + "pulumi" + os.sep)
HOST_DIR = os.path.dirname(os.path.abspath(__file__))


class ProjectFrames:
    """Finds the first frame in the project's own files: where the program declared something."""

    def __init__(self, root: str) -> None:
        self.root = root

    def site(self, depth: int = 2, skip_self: Any = None, direct: bool = False) -> dict[str, Any] | None:
        """The nearest project frame above the caller's caller; with ``direct``, that frame only."""
        frame = sys._getframe(depth)
        while frame is not None:
            if frame.f_code.co_filename.startswith(HOST_DIR):  # the host's own wrappers are transparent
                frame = frame.f_back
                continue
            if self._in_project(frame.f_code.co_filename) and (
                    skip_self is None or frame.f_locals.get("self") is not skip_self):
                return {"file": os.path.relpath(frame.f_code.co_filename, self.root), "line": frame.f_lineno}
            if direct:
                return None
            frame = frame.f_back
        return None

    def _in_project(self, filename: str) -> bool:
        return (filename.startswith(self.root) and not filename.startswith(HOST_DIR)
                and not any(part in filename[len(self.root):] for part in _EXCLUDED))


class SkippedApplies:
    """Counts ``Output.apply`` callbacks the SDK skipped because their input was unknown.

    In a preview the SDK doesn't run an apply whose input is unknown; resources created inside it
    are not registered, as in ``pulumi preview``. Only applies declared in the project's files are
    counted (the SDK's own are plumbing).
    """

    def __init__(self, frames: ProjectFrames) -> None:
        self._frames = frames
        self._watched: list[tuple[Any, tuple[str, int]]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        from pulumi.output import Output

        original = Output.apply
        watched, lock, frames = self._watched, self._lock, self._frames

        def apply(self: Any, func: Callable[[Any], Any], run_with_unknowns: bool = False) -> Any:
            result = original(self, func, run_with_unknowns)
            if not run_with_unknowns:
                # Only applies the project's own code calls; the SDK's and providers' are plumbing.
                site = frames.site(direct=True)
                if site is not None:
                    with lock:
                        watched.append((self, (site["file"], site["line"])))
            return result

        Output.apply = apply  # type: ignore[method-assign]

    def counts(self) -> list[dict[str, Any]]:
        """Per declaring line, how many applies never ran because their input stayed unknown.

        The host calls this once, when the program has finished; it first runs the checks of
        :data:`AT_END` (see :class:`OfflineInvokeOutputs`)."""
        for check in AT_END:
            check()
        counter: collections.Counter = collections.Counter()
        for output, site in self._watched:
            data = getattr(output, "_data", None)
            if data is None or not data.done() or data.cancelled() or data.exception() is not None:
                continue
            if not data.result().is_known:
                counter[site] += 1
        return [{"file": f, "line": line, "count": n} for (f, line), n in sorted(counter.items())]


class PlainReads:
    """Reports each value the gate can't know offline that the program took as a plain value.

    An unknown can only travel through an ``Output``; a plain getter or a plain invoke hands the
    program a stand-in instead, and the program may branch on it, so the plan may not be what would
    be deployed. One record per read (what, its name, how it was read, the declaring line; never a
    value): the run blocks on each (see ``crossgate.collector``).
    """

    SECURE_CONFIG = "secureConfig"
    INVOKE = "invoke"
    #: ``via`` of an invoke result an ``Output.apply`` callback would have read (``crossgate.collector.APPLY``).
    VIA_APPLY = "apply"

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self._emit = emit

    def report(self, what: str, name: str, via: str, site: dict[str, Any] | None) -> None:
        self._emit({"kind": "plainRead", "what": what, "name": name, "via": via, "source": site})


class PlainSecretReads:
    """Notices a secure config value the gate couldn't decrypt being read with a plain getter.

    ``Config.get``/``require``/``get_int``... hand the program the unknown sentinel as an ordinary
    string. The SDK's secret getters (``get_secret``, ``require_secret``...) call ``Config._get``
    without the ``use`` hint; the plain ones pass it.
    """

    def __init__(self, undecrypted: list[str], frames: ProjectFrames, reads: PlainReads) -> None:
        self._undecrypted = frozenset(undecrypted)
        self._frames = frames
        self._reads = reads

    def install(self) -> None:
        if not self._undecrypted:
            return
        from pulumi.config import Config

        original = Config._get
        undecrypted, frames, reads = self._undecrypted, self._frames, self._reads

        def _get(self: Any, key: str, use: Callable | None = None, instead_of: Callable | None = None) -> Any:
            value = original(self, key, use, instead_of)
            if use is not None and value is not None:
                full_key = self.full_key(key)
                if full_key in undecrypted:
                    getter = getattr(instead_of, "__name__", "a plain getter")
                    reads.report(PlainReads.SECURE_CONFIG, full_key, getter, frames.site())
            return value

        Config._get = _get  # type: ignore[method-assign]


class DynamicProviders:
    """Remembers which provider class each dynamic resource (``pulumi.dynamic.Resource``) carries.

    Its serialised provider is code that runs at deploy time; the plan names the class.
    """

    def __init__(self) -> None:
        self._classes: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def install(self) -> None:
        from pulumi import dynamic

        original = dynamic.Resource.__init__
        classes, lock = self._classes, self._lock

        def __init__(self: Any, provider: Any, name: str, props: Any, opts: Any = None) -> None:
            cls = type(provider)
            type_name = getattr(type(self), "_resource_type_name", None)
            if type_name is not None:
                with lock:
                    classes[(f"pulumi-python:{type_name}", name)].append(f"{cls.__module__}.{cls.__qualname__}")
            original(self, provider, name, props, opts)

        dynamic.Resource.__init__ = __init__  # type: ignore[method-assign]

    def take(self, type_token: str, name: str) -> str | None:
        if not type_token.startswith("pulumi-python:dynamic"):
            return None
        with self._lock:
            queue = self._classes.get((type_token, name))
            return queue.popleft() if queue else "unknown (declared outside pulumi.dynamic.Resource)"


#: Checks to run once the program has finished, before the host reports skipped applies.
AT_END: list[Callable[[], None]] = []


class OfflineInvokeOutputs:
    """Blocks an ``Output.apply`` callback that never ran because an invoke's ``*_output`` result is
    unknown offline.

    In a real preview the provider answers the invoke, so the callback runs and whatever it
    registers is in the plan the packs judge; offline it doesn't run, and its resources would be
    deployed unjudged. (An apply on a resource's unknown output is different: a real preview doesn't
    run it either, and the host only reports it.) Each Output remembers, on itself, the invoke it
    answers or the Outputs it was derived from: through ``apply`` (attribute and item access
    included), ``Output.all``/``from_input`` (``concat``, ``format``, containers, input types) and a
    callback that returns one. At the end, each of the project's applies that didn't run, on an Output
    derived from an invoke whose result stayed unknown, is a read of that result (see
    :class:`PlainReads`) and blocks. The links live on the Outputs, so they go when the Outputs do.
    """

    _INVOKE = "_crossgate_invoke"
    #: Output's static methods that make an Output from their arguments.
    _DERIVING = ("from_input", "_from_input_shallow", "all", "concat", "format", "secret", "unsecret",
                 "json_dumps", "json_loads")
    _PARENTS = "_crossgate_parents"
    _MAX_DEPTH = 32

    def __init__(self, frames: ProjectFrames, reads: PlainReads) -> None:
        self._frames = frames
        self._reads = reads
        #: The project's applies: (the Output applied, the declaring line).
        self._applies: list[tuple[Any, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def install(self, invoke_module: Any) -> None:
        import pulumi.runtime
        from pulumi.output import Output

        original_invoke_output = invoke_module.invoke_output
        original_apply = Output.apply
        tracker, link, outputs_in = self, self._link, self._outputs_in

        def invoke_output(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
            out = original_invoke_output(tok, props, opts, typ, package_ref)
            out.__dict__[tracker._INVOKE] = tok
            return out

        def apply(self: Any, func: Callable[[Any], Any], run_with_unknowns: bool = False) -> Any:
            made: list[Any] = []

            def traced(value: Any) -> Any:
                returned = func(value)
                if made and not isinstance(returned, (str, int, float, bool, type(None))):
                    link(made[0], outputs_in(returned))
                return returned

            result = original_apply(self, traced, run_with_unknowns)
            made.append(result)
            link(result, (self,))
            if not run_with_unknowns:
                # As for SkippedApplies: the project's own applies (the SDK's are plumbing, such as
                # a generated function reshaping its answer).
                site = tracker._frames.site(direct=True)
                if site is not None:
                    with tracker._lock:
                        tracker._applies.append((self, site))
            return result

        def derived(original: Callable[..., Any]) -> Callable[..., Any]:
            def make(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if not (len(args) == 1 and not kwargs and result is args[0]):
                    link(result, outputs_in((args, kwargs)))
                return result
            return make

        invoke_module.invoke_output = invoke_output
        pulumi.runtime.invoke_output = invoke_output  # type: ignore[attr-defined]
        Output.apply = apply  # type: ignore[method-assign]
        Output.recover = derived(Output.recover)  # type: ignore[method-assign]
        # Every public way to make an Output from others (``format`` and ``json_dumps`` build theirs
        # from awaited data, not through ``all``).
        for name in self._DERIVING:
            setattr(Output, name, staticmethod(derived(getattr(Output, name))))
        self._output_type = Output
        AT_END.append(self.report_unrun)

    def _link(self, derived: Any, parents: tuple) -> None:
        if parents and derived is not None and hasattr(derived, "__dict__"):
            state = derived.__dict__
            state[self._PARENTS] = state.get(self._PARENTS, ()) + tuple(parents)

    def _outputs_in(self, value: Any) -> tuple:
        """The Outputs in a value: itself, or inside containers and input types (each container
        looked at once, so shared or self-referencing structures cost their size)."""
        found: list[Any] = []
        seen: set[int] = set()
        stack = [(value, 0)]
        while stack:
            current, depth = stack.pop()
            if isinstance(current, self._output_type):
                found.append(current)
                continue
            if depth > self._MAX_DEPTH or id(current) in seen:
                continue
            if isinstance(current, dict):
                items: Any = (*current.keys(), *current.values())
            elif isinstance(current, (list, tuple)):
                items = current
            elif hasattr(type(current), "_pulumi_input_type") or hasattr(type(current), "_pulumi_output_type"):
                items = tuple(getattr(current, "__dict__", {}).values())
            else:
                continue
            seen.add(id(current))
            stack.extend((item, depth + 1) for item in items)
        return tuple(found)

    def _invokes_behind(self, output: Any) -> dict[int, tuple[Any, str]]:
        """The invoke Outputs an Output was derived from."""
        found: dict[int, tuple[Any, str]] = {}
        seen: set[int] = set()
        stack = [output]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            state = current.__dict__
            if self._INVOKE in state:
                found[id(current)] = (current, state[self._INVOKE])
            stack.extend(state.get(self._PARENTS, ()))
        return found

    @staticmethod
    def _unknown(output: Any) -> bool:
        """True unless the Output settled known (or failed: the run fails on that by itself)."""
        data = output.__dict__.get("_data")
        if data is None or not data.done():
            return True
        if data.cancelled() or data.exception() is not None:
            return False
        return not data.result().is_known

    def report_unrun(self) -> None:
        for output, site in self._applies:
            if not self._unknown(output):
                continue
            for origin, token in self._invokes_behind(output).values():
                if self._unknown(origin):
                    self._reads.report(PlainReads.INVOKE, token, PlainReads.VIA_APPLY, site)


class UnknownAnswer(dict):
    """An untyped invoke's answer offline: empty, and every key read from it is the unknown sentinel."""

    def __missing__(self, key: Any) -> str:
        from pulumi.runtime import rpc

        return rpc.UNKNOWN

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key]


def unknown_invoke_result(typ: Any) -> Any:
    """The result a plain invoke hands the program when its answer is unknown offline, or None when
    none can be built.

    Generated SDK functions read their typed result (the ``typ`` an invoke is given, an
    ``@output_type`` class) with ``pulumi.get``. The result is built through the SDK's own
    deserialisation, as from a provider's answer: every string property is the unknown sentinel,
    which a resource input taken from it carries to the packs as unknown, exactly as the engine
    reads it; every other property is absent (the typed result rejects a string there). An untyped
    result (a plain dict, read by key) reads as the unknown sentinel under every key.
    """
    if typ is None:
        return UnknownAnswer()
    from pulumi import _types
    from pulumi.runtime import rpc

    try:
        answer = {name: rpc.UNKNOWN for name, hint in _types.output_type_types(typ).items() if hint is str}
        result = rpc.translate_output_properties(answer, lambda name: name, typ)
    except Exception:  # noqa: BLE001 - a type the SDK can't build this way: the caller refuses the invoke
        return None
    return result if isinstance(result, typ) else None


def guard_plain_invokes(offline_error: type[Exception], frames: ProjectFrames, reads: PlainReads) -> None:
    """A plain (non-Output) invoke can't carry an unknown result: hand the program a stand-in and
    report the read (the run then blocks, naming the function and the line), or, when no stand-in
    can be built, refuse the invoke naming the function.

    The ``*_output`` form returns an ``Output`` that stays unknown, which is what a first preview
    gives the program for a function with no placeholder.
    """
    import pulumi.runtime

    invoke_module = sys.modules["pulumi.runtime.invoke"]

    original = invoke_module.invoke
    resolve = invoke_module._invoke
    InvokeResult = invoke_module.InvokeResult

    def stand_in(tok: str, typ: Any, via: str, site: dict[str, Any] | None) -> Any:
        value = unknown_invoke_result(typ)
        if value is None:
            raise offline_error(
                f"invoke '{tok}' has an unknown result offline (it has no documented placeholder, or an "
                "argument is unknown until deployment), and the program takes it as a plain value, which "
                "can't be unknown; call the function's *_output form, whose Output stays unknown")
        reads.report(PlainReads.INVOKE, tok, via, site)
        return value

    def invoke(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
        result = original(tok, props, opts, typ, package_ref)
        if not result.is_known:
            return InvokeResult(stand_in(tok, typ, "invoke", frames.site()), is_secret=False, is_known=False)
        return result

    def invoke_async(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
        # Not a coroutine function itself: the declaring line is where the program calls it, not
        # where the event loop happens to await it.
        site = frames.site()

        async def answer() -> Any:
            result = await resolve(tok, props, opts, typ, package_ref=package_ref)
            if not result.is_known:
                return stand_in(tok, typ, "invoke_async", site)
            return result.value

        return answer()

    OfflineInvokeOutputs(frames, reads).install(invoke_module)
    invoke_module.invoke = invoke
    invoke_module.invoke_async = invoke_async
    pulumi.runtime.invoke = invoke  # type: ignore[attr-defined]
    pulumi.runtime.invoke_async = invoke_async  # type: ignore[attr-defined]
