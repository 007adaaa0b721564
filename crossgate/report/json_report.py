"""The JSON document (``--format json``). Its schema is ``crossgate/schemas/result.schema.json``.

Values that are unknown until deployment are ``{"$unknown": true}``; secrets are ``{"$secret": true}``
and their values never appear.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..model import SCHEMA_VERSION, Finding, GateResult, PackInfo, PlannedResource, redacted_inputs
from ._common import NOTHING_CHECKED, nothing_checked  # noqa: F401 - NOTHING_CHECKED is re-exported


def resource_doc(resource: PlannedResource, secrets: set[str] | None = None) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "parent": resource.parent,
        "custom": resource.custom,
        "provider": resource.provider,
        "inputs": redacted_inputs(resource, secrets),
        "dependencies": list(resource.dependencies),
        "propertyDependencies": {k: list(v) for k, v in resource.property_dependencies.items()},
        "source": {"file": resource.source.file, "line": resource.source.line} if resource.source else None,
    }


def finding_doc(finding: Finding) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "pack": finding.pack,
        "policy": finding.policy,
        "level": finding.level.value,
        "severity": finding.severity.value,
        "urn": finding.urn,
        "type": finding.type,
        "name": finding.name,
        "message": finding.message,
        "source": {"file": finding.source.file, "line": finding.source.line} if finding.source else None,
    }
    if finding.waiver is not None:
        w = finding.waiver
        doc["kind"] = finding.kind.value
        doc["waiver"] = {"policy": w.policy, "resource": w.resource, "reason": w.reason,
                         "owner": w.owner, "expires": w.expires}
    return doc


def pack_doc(pack: PackInfo) -> dict[str, Any]:
    return {
        "name": pack.name,
        "version": pack.version,
        "description": pack.description,
        "policies": [{
            "name": p.name,
            "description": p.description,
            "kind": p.kind,
            "enforcementLevel": p.enforcement_level.value,
            "defaultEnforcementLevel": p.default_level.value,
            "severity": p.severity.value,
            "displayName": p.display_name,
            "framework": dict(p.framework),
            "tags": list(p.tags),
            "remediation": p.remediation,
            "url": p.url,
            "config": dict(p.config),
        } for p in pack.policies],
    }


def result_doc(result: GateResult) -> dict[str, Any]:
    waiver_doc = lambda w: {"policy": w.policy, "resource": w.resource, "reason": w.reason,  # noqa: E731
                            "owner": w.owner, "expires": w.expires}
    doc: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "crossgate", "version": __version__},
        "project": result.project,
        "stack": result.stack,
        "origin": result.origin,
        "unknowns": result.unknowns_mode,
        "resources": [resource_doc(r) for r in result.resources],
        "invokes": [{"token": i.token, "placeholder": i.placeholder, "count": i.count} for i in result.invokes],
        "violations": [finding_doc(f) for f in result.violations],
        "indeterminate": [finding_doc(f) for f in result.indeterminate],
        "notApplicable": [finding_doc(f) for f in result.not_applicable],
        "waived": [finding_doc(f) for f in result.waived],
        "remediations": [{
            "pack": r.pack, "policy": r.policy, "urn": r.urn, "type": r.type, "name": r.name,
            "changed": list(r.changed_keys), "before": dict(r.before), "after": dict(r.after),
        } for r in result.remediations],
        "packs": [pack_doc(p) for p in result.packs],
        "waivers": {
            "unused": [waiver_doc(w) for w in result.unused_waivers],
            "expired": [waiver_doc(w) for w in result.expired_waivers],
            "applied": [{**waiver_doc(u.waiver), "urns": list(u.urns)} for u in result.waiver_uses],
        },
        "downgrades": list(result.downgrades),
        "warnings": list(result.warnings),
        "summary": result.summary(),
        "errors": list(result.errors),
    }
    if not result.checked:
        doc["note"] = nothing_checked(result)
    return doc


def format_result(result: GateResult) -> str:
    return json.dumps(result_doc(result), indent=2, sort_keys=False) + "\n"
