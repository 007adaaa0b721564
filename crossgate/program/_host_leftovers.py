"""What a program leaves behind when its body returns, which the plan can't show.

Under ``pulumi up`` the SDK keeps the process alive while registrations complete (minutes), so a
timer, task or thread the program started can still register resources, and atexit handlers run
while the monitor is still connected. The host's run ends in milliseconds with ``os._exit``, so any
such work would be deployed without being gated. It fails the run instead, as does an uncaught
exception in a program thread (an error in the main thread already fails it) and a program that
swapped the runtime's monitor or left preview mode (its later registrations reach no gate).

Checks run once, after the program, so they cost nothing per resource.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any, Callable

WHY = "what they would register during a deployment is not in the plan"


class Leftovers:
    def __init__(self, describe: Callable[[BaseException], str]) -> None:
        self._describe = describe
        self._threads: set[threading.Thread] = set()
        self._atexit = 0
        self._thread_errors: list[str] = []
        self._runtime_changed = False

    def before_program(self) -> None:
        """Baseline of what the SDK itself has; from here on, what is new is the program's."""
        self._threads = set(threading.enumerate())
        self._atexit = atexit._ncallbacks()
        threading.excepthook = self._excepthook

    def after_body(self, monitor: Any) -> None:
        """Called at the end of the program body, in its context: the runtime's settings are context
        variables, so a change the body made is only visible there."""
        from pulumi.runtime import settings

        self._runtime_changed = settings.SETTINGS.monitor is not monitor or not settings.is_dry_run()

    def _excepthook(self, args: Any) -> None:
        if args.exc_type is SystemExit:  # as the default hook: a thread may end itself this way
            return
        name = args.thread.name if args.thread is not None else "unknown"
        exc = args.exc_value if args.exc_value is not None else args.exc_type()
        self._thread_errors.append(f"program thread {name} raised {self._describe(exc)}")

    def problem(self, loop: asyncio.AbstractEventLoop, constructed: int,
                registered: int) -> str | None:
        """One line naming what the program left behind, or None."""
        if self._runtime_changed:
            return ("the program replaced the Pulumi runtime's monitor or left preview mode; resources it "
                    "registered after that are not in the plan")
        if constructed != registered:
            return (f"{constructed - registered} resource(s) the program constructed never reached the "
                    "gate's monitor, so they are not in the plan")
        if self._thread_errors:
            return self._thread_errors[0]
        threads = [t.name for t in threading.enumerate()
                   if t not in self._threads and t.is_alive() and not _sdk_callback_poller(t)]
        if threads:
            return f"the program left thread(s) {', '.join(sorted(threads))} running when it finished; {WHY}"
        pending = len(asyncio.all_tasks(loop))
        pending += sum(1 for h in loop._ready if not h.cancelled())  # type: ignore[attr-defined]
        pending += sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]
        if pending:
            return f"the program left {pending} task(s)/callback(s) scheduled when it finished; {WHY}"
        added = atexit._ncallbacks() - self._atexit
        if added:
            return (f"the program registered {added} atexit handler(s), which would run after the plan is "
                    "complete; what they would register is not in the plan")
        return None


def _sdk_callback_poller(thread: threading.Thread) -> bool:
    """grpc's asyncio poller thread: the SDK's callback server (transforms, hooks) starts it lazily
    and it outlives the server. It only polls grpc's completion queue and runs no program code; a
    server or call the program left open would show as pending work on the event loop."""
    target = getattr(thread, "_target", None)
    return (getattr(target, "__name__", "") == "_poll_wrapper"
            and type(getattr(target, "__self__", None)).__module__ == "grpc._cython.cygrpc")
