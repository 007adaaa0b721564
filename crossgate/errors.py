"""Errors that end a run with exit code 2.

Every error names the input that caused it (a file, a flag, a pack, the program), so the CLI can
print one line that tells the user what to fix.
"""

from __future__ import annotations


class GateError(Exception):
    """Something prevented a complete evaluation. Always exit code 2."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Extra context (a traceback, a pack's stderr) shown only under ``--verbose``.
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class InputError(GateError):
    """The user's input (a file, a flag, config) is invalid."""


class ProgramError(GateError):
    """The Pulumi program failed, logged an error, or needs something that does not exist offline."""


class PackError(GateError):
    """A policy pack failed to start, crashed, timed out or answered malformed data."""


def read_json(path: str, label: str, *, allow_empty: bool = False) -> object:
    """Read a JSON input file; ``label`` names it in errors (e.g. ``--policy-pack-config x.json``)."""
    import json
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror}") from exc
    if allow_empty and not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
