"""The plan: what a program declared, written where it ran and judged somewhere it never ran.

``crossgate preview --plan-out FILE`` runs the program and writes every planned resource, the
invokes, the warnings and how the program ended; no pack runs. ``crossgate check --plan FILE``
evaluates that document with the packs, waivers and reports ``preview`` would have used, on a
machine where the change's code never ran (see the README, "Threat model").

The document is versioned (``schemaVersion``) and described by ``schemas/plan.schema.json``.
Resources are written generically from :class:`~crossgate.model.PlannedResource`'s fields
(snake_case names become camelCase keys, ``properties`` is written as ``inputs``), so a field added
there round-trips without changes here.

A secret's value never reaches the plan: every secret is written as an unknown secret, and a known
secret value the program copied into a name, URN, key, plain value or message is replaced by
``[secret]``. A policy that reads a secret is therefore indeterminate in ``check --plan``.

The plan is untrusted input (the change's program wrote it): it is size-limited, read as strict
JSON (no duplicate keys, no NaN), schema-validated, and checked for duplicate URNs and entries that
don't hang together. Anything wrong is one :class:`~crossgate.errors.InputError` naming the file.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import os
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from . import __version__, wire
from . import urn as urns
from .errors import GateError, InputError, read_json
from .model import GateResult, InvokeAnswer, PlainRead, PlannedResource

PLAN_SCHEMA_VERSION = "2.0"
SCHEMA_FILE = Path(__file__).with_name("schemas") / "plan.schema.json"
#: Larger than the plan of a 10,000-resource program (about 25 MB), small enough to refuse garbage.
MAX_PLAN_BYTES = 256 * 1024 * 1024

#: PlannedResource fields that are not written as ``camelCase(name)``.
_RENAMED = {"properties": "inputs"}
#: Fields recomputed on reading instead of trusted from the document.
_DERIVED = {"has_secrets"}


@dataclass
class Plan:
    """A plan document, read and checked."""

    project: str
    stack: str
    resources: list[PlannedResource]
    root_urn: str = ""
    invokes: list[InvokeAnswer] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Why the program did not finish; empty when it did.
    errors: list[str] = field(default_factory=list)
    #: The stack config packs receive in ``ConfigureStack``; secret values are unknown.
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    stack_tags: dict[str, str] = field(default_factory=dict)
    #: Values unknown offline the program took as plain values: they block in the judge too.
    plain_reads: list[PlainRead] = field(default_factory=list)

    @property
    def program_ok(self) -> bool:
        return not self.errors


# -- names ------------------------------------------------------------------------------------

def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _json_key(name: str) -> str:
    return _RENAMED.get(name) or _camel(name)


# -- writing ----------------------------------------------------------------------------------

def _blind(value: Any) -> Any:
    """A wire value with every secret's content replaced by the unknown sentinel."""
    if isinstance(value, dict):
        sig = value.get(wire.SIG_KEY)
        if sig == wire.SECRET_SIG:
            return wire.make_secret(wire.UNKNOWN)
        if sig == wire.OUTPUT_VALUE_SIG and value.get("secret"):
            return wire.make_secret(wire.UNKNOWN)
        return {k: _blind(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blind(v) for v in value]
    return value


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_camel(f.name): _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, collections.abc.Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_encode(v) for v in value), key=repr)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} into a plan")


def resource_doc(resource: PlannedResource) -> dict[str, Any]:
    """One resource as the plan writes it, secrets blinded (known secret values are scrubbed later)."""
    doc: dict[str, Any] = {}
    for f in dataclasses.fields(PlannedResource):
        if f.name in _DERIVED:
            continue
        value = getattr(resource, f.name)
        if isinstance(value, struct_pb2.Struct):  # wire values: inputs, a provider's inputs
            doc[_json_key(f.name)] = _blind(MessageToDict(value))
        else:
            doc[_json_key(f.name)] = _encode(value)
    return doc


def plan_doc(result: GateResult, *, config: dict[str, str] | None = None, secret_keys: tuple[str, ...] = (),
             stack_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """The plan of an offline preview run with no pack. ``config`` holds no secret value; ``result``
    is built by the collector, which has replaced every known secret value already."""
    resources = sorted(result.resources, key=lambda r: r.order)
    doc = {
        "schemaVersion": PLAN_SCHEMA_VERSION,
        "tool": {"name": "crossgate", "version": __version__},
        "project": result.project,
        "stack": result.stack.rsplit("/", 1)[-1],
        "config": dict(config or {}),
        "secretKeys": list(secret_keys),
        "stackTags": dict(stack_tags or {}),
        "program": {"ok": not result.errors, "errors": list(result.errors)},
        "rootUrn": result.root_urn,
        "resources": [resource_doc(r) for r in resources],
        "invokes": [{"token": i.token, "placeholder": i.placeholder, "count": i.count} for i in result.invokes],
        "warnings": list(result.warnings),
        "plainReads": [_encode(read) for read in result.plain_reads],
    }
    return doc


def stack_settings(cwd: str, stack: str) -> tuple[dict[str, str], tuple[str, ...], dict[str, str]]:
    """The config, secret keys and tags the packs' ``ConfigureStack`` gets, secret values unknown."""
    from .project import load_project, load_stack_config, stack_tags

    project = load_project(cwd)
    config = load_stack_config(project, stack)
    plain = {k: (wire.UNKNOWN if v.secret else v.value) for k, v in config.values.items()}
    secret_keys = tuple(sorted(k for k, v in config.values.items() if v.secret))
    return plain, secret_keys, stack_tags(project, config)


def write_plan(result: GateResult, path: str, *, cwd: str, stack: str) -> GateResult:
    """Write the plan of ``result`` to ``path`` (atomically) and return the result to report: ``result``,
    or a copy failed by why the stack's settings could not be read (the plan then says the program
    did not finish). Raise :class:`InputError` if the plan can't be written."""
    config: dict[str, str] = {}
    secret_keys: tuple[str, ...] = ()
    tags: dict[str, str] = {}
    if not result.errors:
        try:
            config, secret_keys, tags = stack_settings(cwd, stack)
        except GateError as exc:
            result = result.with_errors(exc.message)
    try:
        text = json.dumps(plan_doc(result, config=config, secret_keys=secret_keys, stack_tags=tags),
                          indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise InputError(f"--plan-out {path}: cannot encode the plan: {exc}") from exc
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write --plan-out {path}: {exc.strerror}") from exc
    return result


# -- reading ----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def _validate(doc: Any, where: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "the document"
        raise InputError(f"{where}: {at}: {_short(error.message)}")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@lru_cache(maxsize=1)
def _resource_hints() -> dict[str, Any]:
    return typing.get_type_hints(PlannedResource)


class _Mismatch(Exception):
    """A JSON value that doesn't fit its field's type; ``path`` is filled in on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _at(key: Any, convert: Callable[[Any], Any], value: Any) -> Any:
    try:
        return convert(value)
    except _Mismatch as exc:
        exc.path.insert(0, str(key))
        raise


def _scalar(kind: type, message: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is kind or (kind is float and type(value) is int):
            return kind(value) if kind is float else value
        raise _Mismatch(message)
    return convert


@lru_cache(maxsize=None)
def _converter(hint: Any) -> Callable[[Any], Any]:
    """A function that turns a JSON value into the Python type ``hint`` describes, or raises _Mismatch.

    Built once per type: a plan of 10,000 resources converts every field of every resource."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return lambda value: value
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        options = [_converter(a) for a in args if a is not type(None)]

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            error = _Mismatch("has an unsupported value")
            for option in options:
                try:
                    return option(value)
                except _Mismatch as exc:
                    error = exc
            raise error
        return union
    if origin in (tuple, list, set, frozenset):
        build = origin
        item_hint = args[0] if args else Any
        item = _converter(item_hint)

        def sequence(value: Any) -> Any:
            if type(value) is not list:
                raise _Mismatch("must be a list")
            if item_hint is str and all(type(v) is str for v in value):
                return build(value)
            return build(_at(i, item, v) for i, v in enumerate(value))
        return sequence
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        item = _converter(args[1] if len(args) == 2 else Any)

        def mapping(value: Any) -> Any:
            if type(value) is not dict:
                raise _Mismatch("must be an object")
            return {k: _at(k, item, v) for k, v in value.items()}
        return mapping
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = ", ".join(str(m.value) for m in hint)

        def member(value: Any) -> Any:
            try:
                return hint(value)
            except (ValueError, TypeError):
                raise _Mismatch(f"must be one of {choices}") from None
        return member
    simple = {bool: "must be true or false", int: "must be a whole number", float: "must be a number",
              str: "must be a string"}
    if hint in simple:
        return _scalar(hint, simple[hint])
    raise TypeError(f"the plan reader cannot read a field of type {hint}")


def _record(cls: type) -> Callable[[Any], Any]:
    """A dataclass from an object of its camelCase fields; unknown fields are refused."""
    hints = typing.get_type_hints(cls)
    known = {_camel(f.name): (f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls)}

    def record(value: Any) -> Any:
        if type(value) is not dict:
            raise _Mismatch("must be an object")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise _Mismatch(f"has unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**{known[k][0]: _at(k, known[k][1], v) for k, v in value.items()})
        except TypeError as exc:
            raise _Mismatch(f"is incomplete ({exc})") from None
    return record


def _struct_fields() -> frozenset[str]:
    """PlannedResource fields that hold wire values (a protobuf Struct): written blinded, read back as Structs."""
    hints = _resource_hints()
    return frozenset(name for name, hint in hints.items()
                     if hint is struct_pb2.Struct or struct_pb2.Struct in typing.get_args(hint))


_STRUCT_FIELDS = _struct_fields()


def _resource(entry: dict[str, Any], index: int, where: str) -> PlannedResource:
    at = f"{where}: resources/{index}"
    hints = _resource_hints()
    fields = {_json_key(f.name): f for f in dataclasses.fields(PlannedResource) if f.name not in _DERIVED}
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise InputError(f"{at} has unknown field(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        f = fields[key]
        if f.name in _STRUCT_FIELDS:
            if value is None and f.name != "properties":
                kwargs[f.name] = None
                continue
            if not isinstance(value, dict):
                raise InputError(f"{at}/{key} must be an object")
            struct = struct_pb2.Struct()
            try:
                struct.update(value)
            except (TypeError, ValueError, RecursionError) as exc:
                raise InputError(f"{at}/{key} holds an unsupported value ({_short(str(exc))})") from None
            kwargs[f.name] = struct
            if f.name == "properties":
                kwargs["has_secrets"] = wire.contains_secret(value)
        else:
            try:
                kwargs[f.name] = _at(key, _converter(hints[f.name]), value)
            except _Mismatch as exc:
                raise InputError(f"{at}/{'/'.join(exc.path)} {exc.message}") from None
    missing = [k for k, f in fields.items()
               if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InputError(f"{at} is missing {', '.join(missing)}")
    try:
        return PlannedResource(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{at}: {exc}") from None


def _plain_reads(entries: list[Any], where: str) -> list[PlainRead]:
    convert = _converter(PlainRead)
    reads = []
    for i, entry in enumerate(entries):
        try:
            reads.append(_at(i, convert, entry))
        except _Mismatch as exc:
            raise InputError(f"{where}: plainReads/{'/'.join(exc.path)} {exc.message}") from None
    return reads


def _check_consistency(plan: Plan, where: str) -> None:
    """Duplicate URNs, URNs that disagree with the resource or the plan, dangling references."""
    problem = urns.graph_problem(plan.resources, project=plan.project, stack=plan.stack, root_urn=plan.root_urn,
                                 finished=plan.program_ok)
    if problem is not None:
        raise InputError(f"{where}: {problem}")


def load_plan(path: str, *, limit: int = MAX_PLAN_BYTES) -> Plan:
    """Read, validate and check a plan file; raise :class:`InputError` naming it if anything is off."""
    where = f"--plan {path}"
    doc = read_json(path, where, limit=limit, follow_symlinks=False)
    if isinstance(doc, dict) and doc.get("schemaVersion") not in (None, PLAN_SCHEMA_VERSION) \
            and isinstance(doc.get("schemaVersion"), str):
        raise InputError(f"{where}: plan schemaVersion {doc['schemaVersion']!r} is not supported "
                         f"(this crossgate reads {PLAN_SCHEMA_VERSION})")
    _validate(doc, where)
    program = doc["program"]
    if program["ok"] == bool(program["errors"]):
        raise InputError(f"{where}: program: 'ok' must be true exactly when 'errors' is empty")
    plan = Plan(
        project=doc["project"], stack=doc["stack"],
        resources=[_resource(entry, i, where) for i, entry in enumerate(doc["resources"])],
        root_urn=doc["rootUrn"],
        invokes=[InvokeAnswer(i["token"], i["placeholder"], i["count"]) for i in doc["invokes"]],
        warnings=list(doc["warnings"]), errors=list(program["errors"]),
        config=dict(doc["config"]), secret_keys=tuple(doc["secretKeys"]), stack_tags=dict(doc["stackTags"]),
        plain_reads=_plain_reads(doc.get("plainReads", []), where))
    _check_consistency(plan, where)
    return plan
