"""Waivers as code: reviewed, owned, expiring exceptions for one policy on matching resources.

The file (``--waivers FILE``, or ``policy-waivers.yaml`` in the project)::

    waivers:
      - policy: storage-disable-shared-key
        resource: "*::aidatastorage"        # glob matched against the URN (see UrnGlob)
        reason: Legacy ingestion still signs with the account key; migration tracked in DATA-412.
        owner: data-platform@example.com
        expires: 2027-01-31                 # UTC date, inclusive

How far ahead a waiver may expire, and whether critical-severity policies may be waived at all, is
set in the pack's config (see :mod:`crossgate.packs.settings`), never in the waivers file, which the
change under review controls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import os
import re
import stat
import time
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import jsonschema
import yaml

from . import urn as urns
from .errors import GateError, InputError
from .model import Finding, FindingKind, PackInfo, Severity, Waiver

DEFAULT_FILE = "policy-waivers.yaml"
REQUIRED = ("policy", "resource", "reason", "owner", "expires")
#: A waivers file is a short reviewed list; anything bigger is refused before it is parsed.
MAX_BYTES = 256 * 1024
SCHEMA_PATH = Path(__file__).parent / "schemas" / "waivers.schema.json"


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class _Refused(yaml.MarkedYAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """YAML as reviewers read it: no anchors, aliases or merge keys (one value can't silently stand for
    another, and an alias bomb can't expand), no duplicate keys (a second ``resource:`` can't widen a
    waiver that reads as narrow), string keys only, and dates left as text for the schema to check."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(problem="anchors and aliases (&, *) are not allowed", problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(problem="merge keys (<<) are not allowed", problem_mark=key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(problem=f"keys must be strings, not {_short(key)}", problem_mark=key_node.start_mark)
            if key in seen:
                raise _Refused(problem=f"duplicate key '{key[:40]}'", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _field(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _lines(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], int]]:
    """Each value's path in the document with the line it starts on."""
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _lines(value_node, (*path, key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _lines(item, (*path, i))


def _problem(error: jsonschema.ValidationError) -> tuple[tuple[Any, ...], str]:
    """The field a schema error is about, and what is wrong with it, in a reviewer's words."""
    path, value, schema = tuple(error.absolute_path), error.instance, error.schema
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in value]
        return path + (missing[0],), "is missing (every waiver needs " + ", ".join(REQUIRED) + ")"
    if error.validator == "additionalProperties":
        extra = sorted(k for k in value if k not in schema.get("properties", {}))
        allowed = ", ".join(schema.get("properties", {}))
        return path + (extra[0],), f"is not a known field (allowed: {allowed})"
    if error.validator == "type":
        if error.validator_value == "string":
            return path, f"must be text, not {type(value).__name__} {_short(value)} (quote it)"
        return path, f"must be {'a mapping' if error.validator_value == 'object' else 'a list'}, not {_short(value)}"
    if error.validator in ("minLength", "pattern") and isinstance(value, str) and not value.strip():
        return path, "must not be empty"
    if error.validator == "pattern":
        return path, f"{_short(value)} is not {schema.get('title', 'valid')}"
    if error.validator == "maxLength":
        return path, f"is longer than {error.validator_value} characters"
    if error.validator == "maxItems":
        return path, f"holds more than {error.validator_value} waivers"
    return path, error.message[:200]


def _read(path: Path, where: str) -> str:
    """The file's text, refusing symlinks (a waiver file must be the reviewed file itself, never a
    pointer to another file whose content an error message would echo), non-files and big files."""
    absolute, cwd = Path(os.path.abspath(path)), Path.cwd()
    # The file, and every directory between it and the working directory (the checkout under review).
    checked = [absolute, *(p for p in absolute.parents if p != cwd and p.is_relative_to(cwd))]
    if any(p.is_symlink() for p in checked):
        raise InputError(f"{where} is a symbolic link (or lies under one); waivers are read only from a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{where} is not a regular file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"{where} is larger than {MAX_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None


def load_waivers(path: str | Path, *, deadline: float | None = None) -> list[Waiver]:
    """Read a waivers file strictly and validate it against ``schemas/waivers.schema.json``.

    Errors name the file, the line and the field. Policy names and expiry limits are checked by
    :func:`apply`, against the packs.
    """
    where = f"waivers file {path}"
    text = _read(Path(path), where)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        doc = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise InputError(f"{where}{line}: not accepted YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where} is not valid YAML: {exc}") from None
    except RecursionError:
        raise InputError(f"{where} is nested too deeply") from None
    finally:
        loader.dispose()
    _check_deadline(deadline, where)
    if doc is None:
        return []
    lines = dict(_lines(node))

    def line_of(field_path: tuple[Any, ...]) -> int:  # a missing field is reported at its waiver's line
        return lines.get(field_path) or lines.get(field_path[:-1]) or 1

    # One problem per field; the first in the file is reported, with how many more there are.
    problems = dict(reversed([_problem(e) for e in _validator().iter_errors(doc)]))
    if problems:
        field_path = min(problems, key=lambda p: (line_of(p), len(p)))
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InputError(f"{where}, line {line_of(field_path)}: {_field(field_path)} {problems[field_path]}{more}")
    waivers = []
    for i, entry in enumerate(doc["waivers"]):
        try:
            dt.date.fromisoformat(entry["expires"])
        except ValueError:
            raise InputError(f"{where}, line {line_of(('waivers', i, 'expires'))}: waivers[{i}].expires "
                             f"{_short(entry['expires'])} is not a date (YYYY-MM-DD)") from None
        waivers.append(Waiver(policy=entry["policy"], resource=entry["resource"], reason=entry["reason"].strip(),
                              owner=entry["owner"].strip(), expires=entry["expires"]))
    return waivers


def _check_deadline(deadline: float | None, where: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise GateError(f"{where}: timed out applying waivers (raise --timeout)")


def default_waivers_path(project_dir: str | Path) -> Path | None:
    path = Path(project_dir) / DEFAULT_FILE
    return path if os.path.lexists(path) else None  # a dangling symlink is refused, not ignored


class UrnGlob:
    """A waiver's ``resource`` glob, matched against a URN so that the glob's name part covers the
    resource's whole name: ``*::aidatastorage`` waives the resource named ``aidatastorage`` (of any
    type and parent), never one named ``anything::aidatastorage``, which a change could add to slip
    a new resource under a reviewed waiver. The glob is split at one of its ``::``; the part before
    must match the URN up to the type and the part after the resource's name. A glob without ``::``
    is matched against the whole URN."""

    def __init__(self, glob: str) -> None:
        self._whole = re.compile(fnmatch.translate(glob))
        parts = glob.split(urns.SEP)
        self._splits = [(re.compile(fnmatch.translate(urns.SEP.join(parts[:k]))),
                         re.compile(fnmatch.translate(urns.SEP.join(parts[k:])))) for k in range(1, len(parts))]

    def match(self, urn: str) -> bool:
        parsed = urns.parse(urn)
        if not self._splits or parsed is None:
            return bool(self._whole.match(urn))
        prefix = urn[: len(urn) - len(parsed.name) - len(urns.SEP)]
        return any(before.match(prefix) and after.match(parsed.name) for before, after in self._splits)


@dataclasses.dataclass(frozen=True)
class Applied:
    """The findings with each active waiver marked on those it covers, and the waivers that expired
    or matched nothing."""

    findings: tuple[Finding, ...]
    expired: tuple[Waiver, ...]
    unused: tuple[Waiver, ...]


def apply(findings: Sequence[Finding], packs: Sequence[PackInfo], waivers: list[Waiver], *, today: dt.date,
          settings: dict[str, Any], where: str, deadline: float | None = None) -> Applied:
    """Mark the findings each active waiver covers; sort out expired and unused waivers.

    ``settings`` maps a pack name to its :class:`~crossgate.packs.settings.GateSettings`.
    Raises :class:`InputError` for a waiver that names an unknown policy, expires too far ahead,
    or waives a critical-severity policy its pack does not allow to be waived, and :class:`GateError`
    when ``deadline`` (``time.monotonic()``) passes before every finding is matched.
    """
    active: list[Waiver] = []
    expired: list[Waiver] = []
    for waiver in waivers:
        # A policy name may exist in several packs; the waiver covers all of them, so it must be
        # allowed by every one of them.
        owners = [(pack, pack.policy(waiver.policy)) for pack in packs if pack.policy(waiver.policy)]
        if not owners:
            raise InputError(f"{where}: waiver for '{waiver.policy}' names a policy that no pack has")
        expires = dt.date.fromisoformat(waiver.expires)
        for pack, policy in owners:
            pack_settings = settings[pack.name]
            limit = today + dt.timedelta(days=pack_settings.waiver_max_days)
            if expires > limit:
                raise InputError(f"{where}: waiver for '{waiver.policy}' on '{waiver.resource}' expires "
                                 f"{waiver.expires}, more than {pack_settings.waiver_max_days} days ahead "
                                 f"(latest allowed: {limit.isoformat()})")
            if policy.severity is Severity.CRITICAL and not pack_settings.allow_critical_waivers:
                raise InputError(f"{where}: '{waiver.policy}' is critical and {pack.name} does not allow "
                                 "critical policies to be waived")
        if expires < today:
            expired.append(waiver)
        else:
            active.append(waiver)

    by_policy: dict[str, list[tuple[int, UrnGlob]]] = {}
    for i, waiver in enumerate(active):
        by_policy.setdefault(waiver.policy, []).append((i, UrnGlob(waiver.resource)))
    used: set[int] = set()
    marked = []
    for n, finding in enumerate(findings):
        if n % 256 == 0:
            _check_deadline(deadline, where)
        if finding.kind is not FindingKind.NOT_APPLICABLE and finding.waiver is None:
            for i, pattern in by_policy.get(finding.policy, ()):
                if pattern.match(finding.urn):
                    finding = dataclasses.replace(finding, waiver=active[i])
                    used.add(i)
                    break
        marked.append(finding)
    return Applied(tuple(marked), tuple(expired), tuple(w for i, w in enumerate(active) if i not in used))
