"""Runs a Python script or module under cProfile, every thread included, as ``python`` would.

``python -u _profwrap.py [-u] (-m MODULE | SCRIPT) ARGS...`` — a stand-in interpreter for the
processes crossgate starts (its program host, policy packs) and for crossgate itself. cProfile
sees only the thread that enabled it, so each new thread gets its own profiler (via
``threading.setprofile``). Stats are written to ``$CROSSGATE_BENCH_PROFILE_DIR``:

* ``<role>-<pid>-main.prof``: the main thread;
* ``<role>-<pid>-threads.prof``: every other thread, merged.

They are written at exit, at ``os._exit`` (crossgate's host ends that way), on SIGTERM, and every
second from a background thread, because crossgate stops packs with SIGKILL.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import resource
import runpy
import signal
import sys
import threading
import time

OUT_DIR = os.environ.get("CROSSGATE_BENCH_PROFILE_DIR") or "."
#: Set to record only each process's peak RSS (no profiler overhead, no .prof files).
RSS_ONLY = bool(os.environ.get("CROSSGATE_BENCH_RSS_ONLY"))
_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_dump_lock = threading.Lock()


class _Snapshot:
    """What pstats.Stats loads, taken without disabling a profiler another thread is running."""

    def __init__(self, profile: cProfile.Profile) -> None:
        profile.snapshot_stats()
        self.stats = profile.stats

    def create_stats(self) -> None:
        pass


def _thread_hook(frame, event, arg):  # noqa: ARG001 - a sys.setprofile hook
    profile = cProfile.Profile()
    with _lock:
        _profiles.append(profile)
    profile.enable()  # replaces this hook for the thread


def dump(role: str, main: cProfile.Profile) -> None:
    with _dump_lock:
        with _lock:
            others = list(_profiles)
        for suffix, group in () if RSS_ONLY else (("main", [main]), ("threads", others)):
            snapshots = [_Snapshot(p) for p in group]
            snapshots = [s for s in snapshots if s.stats]
            if not snapshots:
                continue
            stats = pstats.Stats(snapshots[0])
            for snap in snapshots[1:]:
                stats.add(snap)
            path = os.path.join(OUT_DIR, f"{role}-{os.getpid()}-{suffix}.prof")
            stats.dump_stats(path + ".tmp")
            os.replace(path + ".tmp", path)
        # Peak RSS of this process so far (KB on Linux), to tell which process is the largest.
        with open(os.path.join(OUT_DIR, f"{role}-{os.getpid()}.rss"), "w", encoding="utf-8") as f:
            f.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")


def _is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _soften_killpg() -> None:
    """In crossgate's own process: SIGTERM a pack first, so its wrapper writes complete stats.

    crossgate stops a pack with SIGKILL, which would lose whatever the pack did since the last
    periodic dump (typically AnalyzeStack, the last call).
    """
    real_killpg = os.killpg

    def killpg(pgid: int, sig: int) -> None:
        if sig == signal.SIGKILL:
            try:
                real_killpg(pgid, signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + 5.0
            while not _is_gone(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        real_killpg(pgid, sig)

    os.killpg = killpg  # type: ignore[assignment]


def _uncap_call_timeout() -> None:
    """Raise crossgate's per-call pack timeout (60 s) to the run's --timeout."""
    import crossgate.engine as engine

    init = engine.Gate.__init__

    def uncapped(self, options, identity):  # type: ignore[no-untyped-def]
        options.call_timeout = max(options.call_timeout, options.timeout)
        init(self, options, identity)

    engine.Gate.__init__ = uncapped  # type: ignore[method-assign]


def main() -> None:
    args = sys.argv[1:]
    while args and args[0] == "-u":
        args.pop(0)
    if args and args[0] == "-m":
        module, rest = args[1], args[2:]
        role = module.replace(".", "_")
    else:
        module, rest = None, args[1:]
        role = os.path.splitext(os.path.basename(args[0]))[0].lstrip("_")
    os.makedirs(OUT_DIR, exist_ok=True)
    main_profile = cProfile.Profile()

    def periodic() -> None:
        while True:
            time.sleep(1.0)
            try:
                dump(role, main_profile)
            except Exception:  # noqa: BLE001 - a profile is best effort
                pass

    threading.Thread(target=periodic, daemon=True, name="profwrap-dump").start()
    if not RSS_ONLY:
        threading.setprofile(_thread_hook)

    real_exit = os._exit

    def exit_now(code: int) -> None:
        main_profile.disable()
        dump(role, main_profile)
        real_exit(code)

    os._exit = exit_now  # type: ignore[assignment]
    signal.signal(signal.SIGTERM, lambda *_: exit_now(143))
    if module == "crossgate":
        _soften_killpg()
        if os.environ.get("CROSSGATE_BENCH_UNCAP_CALL_TIMEOUT"):
            _uncap_call_timeout()

    # sys.path[0] is this file's directory; make it what ``python -m``/``python SCRIPT`` would have.
    if module is not None:
        sys.argv = [module, *rest]
        sys.path[0] = os.getcwd()
    else:
        sys.argv = [args[0], *rest]
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
    if not RSS_ONLY:
        main_profile.enable()
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(args[0], run_name="__main__")
    finally:
        main_profile.disable()
        dump(role, main_profile)


if __name__ == "__main__":
    main()
