"""The progress indicator draws only for long runs, and only on a terminal."""

from __future__ import annotations

import io

from crossgate.progress import MANY_RESOURCES, Progress
from helpers import FIXTURES, run_crossgate


def test_draws_for_many_resources_and_clears_the_line():
    stream = io.StringIO()
    progress = Progress(stream)
    progress("analyzed", 10, MANY_RESOURCES + 1)
    assert stream.getvalue() == f"\rcrossgate: analyzed 10/{MANY_RESOURCES + 1} resources, 0.0s "
    progress.close()
    assert stream.getvalue().endswith("\r\033[K")


def test_silent_for_a_short_small_run():
    stream = io.StringIO()
    progress = Progress(stream)
    progress("analyzed", 3, 5)
    progress.close()
    assert stream.getvalue() == ""


def test_nothing_on_stderr_when_not_a_terminal():
    proc = run_crossgate("preview", "--cwd", str(FIXTURES / "programs" / "things"), "--stack", "dev",
                         "--policy-pack", str(FIXTURES / "packs" / "second"))
    assert proc.returncode == 0
    assert proc.stderr == ""
