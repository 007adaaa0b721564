"""A progress indicator on stderr, drawn only for long runs on a terminal."""

from __future__ import annotations

import threading
import time
from typing import TextIO

#: Start drawing after this many seconds, or once this many resources are in flight.
DELAY_SECONDS = 2.0
MANY_RESOURCES = 300


class Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = False
        self._last = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.started < DELAY_SECONDS and total < MANY_RESOURCES:
            return
        with self._lock:
            if now - self._last < 0.1 and done < total:
                return
            self._last = now
            self._drawn = True
            self.stream.write(f"\rcrossgate: {what} {done}/{total} resources, {now - self.started:.1f}s ")
            self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
