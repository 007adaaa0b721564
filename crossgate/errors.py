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


#: Inputs larger than this are refused before they are parsed (a stack export of 10,000 resources is
#: about 30 MB); a caller with a reason passes its own ``limit``.
MAX_JSON_BYTES = 256 * 1024 * 1024


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc: dict[str, object] = {}
    for key, value in pairs:
        if key in doc:
            raise ValueError(f"duplicate key {key!r}")
        doc[key] = value
    return doc


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: str, label: str, *, allow_empty: bool = False, limit: int = MAX_JSON_BYTES,
              follow_symlinks: bool = True) -> object:
    """Read a JSON input file strictly; ``label`` names it in errors (e.g. ``--policy-pack-config x.json``).

    Every JSON input is untrusted: it must be a regular UTF-8 file of at most ``limit`` bytes, hold
    no duplicate key (a later one would silently win), no NaN or Infinity, and not nest absurdly.
    ``follow_symlinks=False`` refuses a symbolic link (for files a pull request could plant).
    """
    import json
    import os
    import stat

    flags = os.O_RDONLY | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise InputError(f"{label} is a symbolic link; pass the file itself") from None
        raise InputError(f"cannot read {label}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise InputError(f"{label} is not a regular file")
            data = stream.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror}") from exc
    if len(data) > limit:
        raise InputError(f"{label} is larger than the {limit} bytes this input may hold")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label} is not UTF-8 text") from None
    if allow_empty and not text.strip():
        return None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except ValueError as exc:
        raise InputError(f"{label} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{label} is nested too deeply") from None
