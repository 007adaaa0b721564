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
