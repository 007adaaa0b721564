"""Policy config reconciliation, as the engine does it before ``Configure``.

Start from each policy's default level and its schema defaults, apply the pack's ``initialConfig``,
then the ``--policy-pack-config`` file (where ``all`` sets every policy's level), then validate each
policy's properties against its JSON schema. crossgate is stricter than the engine in two places,
both so that config can't silently weaken the gate: a config entry naming a policy the pack does
not have is an error, and an ``initialConfig`` entry whose level is the protobuf default (advisory,
i.e. not set) does not downgrade the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import jsonschema
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import analyzer_pb2

from ..errors import InputError, read_json
from ..model import Level, Severity
from . import settings

_LEVEL_FROM_PROTO = {
    analyzer_pb2.ADVISORY: Level.ADVISORY,
    analyzer_pb2.MANDATORY: Level.MANDATORY,
    analyzer_pb2.REMEDIATE: Level.REMEDIATE,
    analyzer_pb2.DISABLED: Level.DISABLED,
}
_LEVEL_TO_PROTO = {v: k for k, v in _LEVEL_FROM_PROTO.items()}


def level_from_proto(value: int) -> Level:
    return _LEVEL_FROM_PROTO.get(value, Level.ADVISORY)


def level_to_proto(level: Level) -> int:
    return _LEVEL_TO_PROTO[level]


_SEVERITY_FROM_PROTO = {
    analyzer_pb2.POLICY_SEVERITY_LOW: Severity.LOW,
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: Severity.MEDIUM,
    analyzer_pb2.POLICY_SEVERITY_HIGH: Severity.HIGH,
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: Severity.CRITICAL,
}
_KIND_FROM_PROTO = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}


def severity_from_proto(value: int) -> Severity:
    return _SEVERITY_FROM_PROTO.get(value, Severity.UNSPECIFIED)


def kind_from_proto(value: int) -> str:
    """A policy's type as crossgate names it: "resource" (the protobuf default) or "stack"."""
    return _KIND_FROM_PROTO.get(value, "resource")


@dataclass
class PolicyConfigEntry:
    """One policy's config: an optional level and properties."""

    level: Level | None = None
    properties: dict[str, Any] = field(default_factory=dict)


PackConfig = dict[str, PolicyConfigEntry]


def parse_config(doc: Any, where: str) -> PackConfig:
    """Parse the CLI's policy config format: ``{"p": "disabled"}`` or ``{"p": {"enforcementLevel": ..., ...}}``."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"{where}: policy config must be a JSON object keyed by policy name")
    result: PackConfig = {}
    for name, value in doc.items():
        if isinstance(value, str):
            result[name] = PolicyConfigEntry(level=_parse_level(value, f"{where}: {name}"))
        elif isinstance(value, dict):
            props = dict(value)
            raw_level = props.pop("enforcementLevel", None)
            level = None if raw_level is None else _parse_level(raw_level, f"{where}: {name}.enforcementLevel")
            result[name] = PolicyConfigEntry(level=level, properties=props)
        else:
            raise InputError(f"{where}: {name} must be an enforcement level string or an object")
    return result


def _parse_level(value: Any, where: str) -> Level:
    try:
        return Level(value)
    except ValueError:
        raise InputError(f"{where}: {value!r} is not an enforcement level "
                         "(advisory, mandatory, remediate or disabled)") from None


def load_config_file(path: str) -> PackConfig:
    label = f"--policy-pack-config {path}"
    return parse_config(read_json(path, label, allow_empty=True), label)


def initial_config(info: analyzer_pb2.AnalyzerInfo) -> PackConfig:
    result: PackConfig = {}
    for name, cfg in info.initialConfig.items():
        level = level_from_proto(cfg.enforcementLevel)
        result[name] = PolicyConfigEntry(
            level=None if cfg.enforcementLevel == analyzer_pb2.ADVISORY else level,
            properties=MessageToDict(cfg.properties) if cfg.HasField("properties") else {},
        )
    return result


def schema_of(policy: analyzer_pb2.PolicyInfo) -> dict[str, Any]:
    if not policy.HasField("configSchema"):
        return {}
    schema: dict[str, Any] = {"type": "object"}
    props = MessageToDict(policy.configSchema.properties)
    if props:
        schema["properties"] = props
    if policy.configSchema.required:
        schema["required"] = list(policy.configSchema.required)
    return schema


@dataclass
class ResolvedPolicyConfig:
    level: Level
    default_level: Level
    properties: dict[str, Any]


def reconcile(info: analyzer_pb2.AnalyzerInfo, layers: list[tuple[str, PackConfig]], pack_label: str
              ) -> "Reconciled":
    """Merge defaults and config layers, validate, and return each policy's resolved config."""
    result: dict[str, ResolvedPolicyConfig] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        if policy.name == "all":
            raise InputError(f"{pack_label}: a policy may not be named 'all'")
        default = level_from_proto(policy.enforcementLevel)
        schema = schema_of(policy)
        schemas[policy.name] = schema
        defaults = {k: v["default"] for k, v in schema.get("properties", {}).items()
                    if isinstance(v, dict) and "default" in v}
        result[policy.name] = ResolvedPolicyConfig(default, default, defaults)

    settings_layers = []
    for where, layer in layers:
        if settings.KEY in layer:
            entry = layer[settings.KEY]
            if entry.level is not None:
                raise InputError(f"{where}: '{settings.KEY}' holds crossgate's settings, not a policy level")
            settings_layers.append((where, entry.properties))
        everything = layer.get("all")
        if everything is not None and everything.level is not None:
            for resolved in result.values():
                resolved.level = everything.level
        for name, entry in layer.items():
            if name in ("all", settings.KEY):
                continue
            if name not in result:
                raise InputError(f"{where}: {pack_label} has no policy named '{name}'")
            if entry.level is not None:
                result[name].level = entry.level
            result[name].properties.update(entry.properties)

    errors = []
    for name, resolved in result.items():
        schema = schemas[name]
        if not schema:
            continue
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(resolved.properties), key=lambda e: list(e.path)):
            prop = ".".join(str(p) for p in error.path) or (
                error.validator_value[0] if error.validator == "required" and isinstance(error.validator_value, list)
                and len(error.validator_value) == 1 else "")
            if error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else prop
                errors.append(f"{name}: required property '{missing}' is missing")
            else:
                errors.append(f"{name}: property '{prop}': {error.message}")
    if errors:
        raise InputError(f"validating policy config: {pack_label}: " + "; ".join(errors))
    return Reconciled(result, settings.parse(settings_layers), _downgrades(info, result, pack_label))


_STRENGTH = {Level.DISABLED: 0, Level.ADVISORY: 1, Level.MANDATORY: 2, Level.REMEDIATE: 2}


def _downgrades(info: analyzer_pb2.AnalyzerInfo, result: dict[str, ResolvedPolicyConfig],
                pack_label: str) -> list[tuple[str, bool, str]]:
    """(policy, is_critical, note) for every policy configured below its default level."""
    out = []
    for policy in info.policies:
        cfg = result[policy.name]
        if _STRENGTH[cfg.level] < _STRENGTH[cfg.default_level]:
            critical = policy.severity == analyzer_pb2.POLICY_SEVERITY_CRITICAL
            out.append((policy.name, critical, f"{pack_label}: {policy.name} configured "
                                                f"{cfg.default_level.value} -> {cfg.level.value}"))
    return out


@dataclass
class Reconciled:
    policies: dict[str, ResolvedPolicyConfig]
    settings: "settings.GateSettings"
    #: (policy, critical, note) for each policy configured below its default level.
    downgrades: list[tuple[str, bool, str]]

    def check_downgrades(self) -> list[str]:
        """Refuse critical downgrades unless the settings allow them; return every note."""
        refused = [name for name, critical, _ in self.downgrades if critical]
        if refused and not self.settings.allow_critical_downgrades:
            raise InputError(f"policy config disables or downgrades critical polic"
                             f"{'y' if len(refused) == 1 else 'ies'} {', '.join(refused)}; "
                             "the pack's config must set crossgate.allowCriticalDowngrades to allow it")
        return [note for _, _, note in self.downgrades]


def configure_request(resolved: Mapping[str, ResolvedPolicyConfig],
                      levels: Mapping[str, Level] | None = None) -> analyzer_pb2.ConfigureAnalyzerRequest:
    """Every policy's level is always sent: the protobuf default (advisory) would downgrade it.

    ``levels`` overrides the resolved levels (to share stack policies out among processes).
    """
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, cfg in resolved.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = level_to_proto(levels[name] if levels else cfg.level)
        if cfg.properties:
            entry.properties.update(cfg.properties)
    return request
