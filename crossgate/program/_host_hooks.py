"""Hooks into the pulumi SDK that let the host see what a preview hides.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.
Each hook observes and reports; none changes what the program computes, except where a value the
program asked for can't exist offline (then it raises, naming it).
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
        """Per declaring line, how many applies never ran because their input stayed unknown."""
        counter: collections.Counter = collections.Counter()
        for output, site in self._watched:
            data = getattr(output, "_data", None)
            if data is None or not data.done() or data.cancelled() or data.exception() is not None:
                continue
            if not data.result().is_known:
                counter[site] += 1
        return [{"file": f, "line": line, "count": n} for (f, line), n in sorted(counter.items())]


class PlainSecretReads:
    """Notices a secure config value the gate couldn't decrypt being read with a plain getter.

    ``Config.get``/``require``/``get_int``... hand the program the unknown sentinel as an ordinary
    string, and the program may branch on it: the plan is then not what would be deployed. The SDK's
    secret getters (``get_secret``, ``require_secret``...) call ``Config._get`` without the ``use``
    hint; the plain ones pass it.
    """

    def __init__(self, undecrypted: list[str], frames: ProjectFrames,
                 report: Callable[[str, str, dict[str, Any] | None], None]) -> None:
        self._undecrypted = frozenset(undecrypted)
        self._frames = frames
        self._report = report

    def install(self) -> None:
        if not self._undecrypted:
            return
        from pulumi.config import Config

        original = Config._get
        undecrypted, frames, report = self._undecrypted, self._frames, self._report

        def _get(self: Any, key: str, use: Callable | None = None, instead_of: Callable | None = None) -> Any:
            value = original(self, key, use, instead_of)
            if use is not None and value is not None:
                full_key = self.full_key(key)
                if full_key in undecrypted:
                    getter = getattr(instead_of, "__name__", "a plain getter")
                    report(full_key, getter, frames.site())
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


def guard_plain_invokes(offline_error: type[Exception]) -> None:
    """A plain (non-Output) invoke can't carry an unknown result: refuse it, naming the function.

    The ``*_output`` form returns an ``Output`` that stays unknown, which is what a first preview
    gives the program for a function with no placeholder.
    """
    import pulumi.runtime

    invoke_module = sys.modules["pulumi.runtime.invoke"]

    original = invoke_module.invoke
    resolve = invoke_module._invoke

    def refuse(tok: str) -> Exception:
        return offline_error(
            f"invoke '{tok}' has an unknown result offline (it has no documented placeholder, or an "
            "argument is unknown until deployment), and the program takes it as a plain value, which "
            "can't be unknown; call the function's *_output form, whose Output stays unknown")

    def invoke(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
        result = original(tok, props, opts, typ, package_ref)
        if not result.is_known:
            raise refuse(tok)
        return result

    async def invoke_async(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
        result = await resolve(tok, props, opts, typ, package_ref=package_ref)
        if not result.is_known:
            raise refuse(tok)
        return result.value

    invoke_module.invoke = invoke
    invoke_module.invoke_async = invoke_async
    pulumi.runtime.invoke = invoke  # type: ignore[attr-defined]
    pulumi.runtime.invoke_async = invoke_async  # type: ignore[attr-defined]
