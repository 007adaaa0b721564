"""Reporters: pure functions ``format(result) -> str``, one module per format."""

from __future__ import annotations

from typing import Callable

from ..model import GateResult

Formatter = Callable[[GateResult], str]


def formatter(name: str) -> Formatter:
    """The formatter for a ``--format`` name; imported lazily to keep start-up fast."""
    if name == "table":
        from .text import format_result
    elif name == "json":
        from .json_report import format_result
    elif name == "sarif":
        from .sarif import format_result
    elif name == "junit":
        from .junit import format_result
    elif name == "markdown":
        from .markdown import format_result
    else:
        raise ValueError(f"unknown format {name!r}")
    return format_result


FORMATS = ("table", "json", "sarif", "junit", "markdown")
