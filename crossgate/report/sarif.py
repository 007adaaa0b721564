"""SARIF 2.1.0 (``--format sarif``), for GitHub code scanning, Azure DevOps and other SARIF viewers.

One run per policy pack, each with the pack's whole rule catalogue (not only the rules that
fired) and its own ``automationDetails.id``, because code scanning refuses several runs of one
tool in one category. Paths are relative to the repository root (``%SRCROOT%``), which may sit
above the Pulumi project. A result's ``partialFingerprints`` hash only the pack, the policy and
the resource URN, so an alert keeps its identity when a message or a line number changes.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import PurePath
from typing import Any, Iterable
from urllib.parse import quote

from .. import __version__
from ..model import Finding, FindingKind, GateResult, Level, PackInfo, PolicyInfo, Remediation, Severity
from ._common import (FINGERPRINT_KEY, RULE_LEVEL, SECURITY_SEVERITY, fingerprint, framework_reference,
                      Locator, nothing_checked_sentence, Place, remediation_text, reported_findings,
                      reporting_packs, sorted_findings, waiver_note)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
#: GitHub keeps at most this many tags per rule.
MAX_TAGS = 20


def _information_uri() -> str | None:
    """The project URL from the installed package's metadata, if it declares one."""
    try:
        meta = metadata.metadata("crossgate")
    except metadata.PackageNotFoundError:
        return None
    for entry in meta.get_all("Project-URL") or []:
        _, _, url = entry.partition(",")
        if url.strip():
            return url.strip()
    home = meta.get("Home-page")
    return home if home and home != "UNKNOWN" else None


def _rule(pack: PackInfo, policy: PolicyInfo) -> dict[str, Any]:
    reference = framework_reference(policy)
    description = policy.description.strip() or policy.display_name or policy.name
    full = [description]
    if reference:
        full.append(f"Framework: {reference}.")
    spec = str(policy.framework.get("specification", "")).strip()
    if spec:
        full.append(spec)

    rule: dict[str, Any] = {
        "id": policy.name,
        "name": policy.display_name or policy.name,
        "shortDescription": {"text": description},
        "fullDescription": {"text": "\n\n".join(full)},
    }
    help_text = policy.remediation.strip()
    if help_text or policy.url:
        markdown = [f"**Remediation:** {help_text}" if help_text else description]
        if reference:
            markdown.append(f"**Framework:** {reference}")
        if policy.url:
            markdown.append(f"[More information]({policy.url})")
        rule["help"] = {"text": help_text or description, "markdown": "\n\n".join(markdown)}
    if policy.url:
        rule["helpUri"] = policy.url
    configuration: dict[str, Any] = {"level": RULE_LEVEL[policy.enforcement_level]}
    if policy.enforcement_level is Level.DISABLED:
        configuration["enabled"] = False
    rule["defaultConfiguration"] = configuration

    tags = list(dict.fromkeys([*policy.tags, *([reference] if reference else [])]))[:MAX_TAGS]
    properties: dict[str, Any] = {"tags": tags}
    if policy.severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[policy.severity]
        properties["severity"] = policy.severity.value
    properties["pack"] = pack.name
    properties["policyKind"] = policy.kind
    properties["enforcementLevel"] = policy.enforcement_level.value
    properties["defaultEnforcementLevel"] = policy.default_level.value
    if policy.framework:
        properties["framework"] = {k: str(v) for k, v in policy.framework.items()}
    rule["properties"] = properties
    return rule


def _unlisted_rule(pack: str, policy: str, severity: Severity) -> dict[str, Any]:
    """A rule for a policy the pack reported on but did not list (so every ruleIndex resolves)."""
    rule: dict[str, Any] = {
        "id": policy, "name": policy,
        "shortDescription": {"text": f"{policy} (not listed by policy pack {pack})"},
        "properties": {"tags": [], "pack": pack},
    }
    if severity in SECURITY_SEVERITY:
        rule["properties"]["security-severity"] = SECURITY_SEVERITY[severity]
    return rule


def _location(place: Place, urn: str, name: str) -> dict[str, Any]:
    if place.inside:
        artifact = {"uri": _uri_path(place.path), "uriBaseId": SRCROOT}
    else:
        artifact = {"uri": PurePath(place.path).as_uri()}
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": place.line}},
    }
    if urn:
        location["logicalLocations"] = [{"fullyQualifiedName": urn, "kind": "resource", "name": name or urn}]
    return location


def _uri_path(path: str) -> str:
    return quote(path, safe="/")


def _result_level(finding: Finding) -> str:
    # A waived finding keeps the level it would have had; its suppression says why it is hidden.
    return "error" if finding.level.blocks else ("note" if finding.level is Level.DISABLED else "warning")


class _Run:
    def __init__(self, result: GateResult, locator: Locator, pack: PackInfo) -> None:
        self.result = result
        self.locator = locator
        self.pack = pack
        self.rules = [_rule(pack, p) for p in pack.policies]
        self.index = {p.name: i for i, p in enumerate(pack.policies)}
        self.results: list[dict[str, Any]] = []
        self._seen: dict[tuple[str, ...], int] = {}

    def rule_index(self, policy: str, severity: Severity) -> int:
        if policy not in self.index:
            self.index[policy] = len(self.rules)
            self.rules.append(_unlisted_rule(self.pack.name, policy, severity))
        return self.index[policy]

    def _fingerprint(self, policy: str, urn: str, *extra: str) -> str:
        # The first result of a policy on a resource hashes (pack, policy, urn) alone; further
        # results of the same policy on the same resource add their ordinal, so none collide.
        key = (policy, urn, *extra)
        nth = self._seen.get(key, 0)
        self._seen[key] = nth + 1
        return fingerprint(self.pack.name, policy, urn, *extra, *([str(nth)] if nth else []))

    def add_finding(self, finding: Finding) -> None:
        message = finding.message.strip() or finding.policy
        if finding.kind is FindingKind.INDETERMINATE:
            message = f"Indeterminate: {message}"
        doc: dict[str, Any] = {
            "ruleId": finding.policy,
            "ruleIndex": self.rule_index(finding.policy, finding.severity),
            "level": _result_level(finding),
            "message": {"text": message},
            "locations": [_location(self.locator.of(finding), finding.urn, finding.name)],
            "partialFingerprints": {FINGERPRINT_KEY: self._fingerprint(finding.policy, finding.urn)},
            "properties": {
                "pack": finding.pack,
                "enforcementLevel": finding.level.value,
                "severity": finding.severity.value,
                "urn": finding.urn,
                "resourceType": finding.type,
                "kind": finding.kind.value,
                "blocking": finding.blocks,
            },
        }
        if finding.waiver is not None:
            doc["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": waiver_note(finding.waiver)}]
            doc["properties"]["waiverResource"] = finding.waiver.resource
        self.results.append(doc)

    def add_remediation(self, rem: Remediation) -> None:
        policy = self.pack.policy(rem.policy)
        severity = policy.severity if policy else Severity.UNSPECIFIED
        message = f"Remediation: {rem.policy} {remediation_text(rem)}."
        if rem.message.strip():
            message += f" {rem.message.strip()}"
        place = self.locator.of(result=self.result, urn=rem.urn)
        self.results.append({
            "ruleId": rem.policy,
            "ruleIndex": self.rule_index(rem.policy, severity),
            "level": "note",
            "message": {"text": message},
            "locations": [_location(place, rem.urn, rem.name)],
            "partialFingerprints": {FINGERPRINT_KEY: self._fingerprint(rem.policy, rem.urn, "remediation")},
            "properties": {
                "pack": rem.pack,
                "enforcementLevel": Level.REMEDIATE.value,
                "severity": severity.value,
                "urn": rem.urn,
                "resourceType": rem.type,
                "kind": "remediation",
                "changed": list(rem.changed_keys),
            },
        })


def _automation_id(*parts: str) -> str:
    return "/".join(["crossgate", *(p.replace("/", "-") or "-" for p in parts)]) + "/"


def _notification(level: str, text: str) -> dict[str, Any]:
    return {"level": level, "message": {"text": text}}


def _invocation(result: GateResult, extra: Iterable[dict[str, Any]] = (),
                config: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    notes = [*extra, *(_notification("warning", w) for w in result.warnings),
             *(_notification("error", e) for e in result.errors)]
    invocation: dict[str, Any] = {
        "executionSuccessful": result.exit_code != 2,
        "exitCode": result.exit_code,
        "exitCodeDescription": result.verdict.value,
    }
    if notes:
        invocation["toolExecutionNotifications"] = notes
    config = list(config)
    if config:
        invocation["toolConfigurationNotifications"] = config
    return invocation


def _config_notes(result: GateResult, pack: PackInfo | None, first: bool) -> list[dict[str, Any]]:
    """Downgrades and stale waivers: configuration a reviewer should see, never silent."""
    names = {p.name for p in pack.policies} if pack else set()
    all_names = {p.name for p in result.packs for p in p.policies}

    def mine(policy: str) -> bool:
        return policy in names or (first and policy not in all_names)

    notes = [_notification("warning", d) for d in result.downgrades]
    notes += [_notification("warning", f"Waiver for {w.policy} on {w.resource} expired on {w.expires} "
                                       f"(owner {w.owner}); it no longer hides anything.")
              for w in result.expired_waivers if mine(w.policy)]
    notes += [_notification("note", f"Waiver for {w.policy} on {w.resource} matched nothing "
                                    f"(owner {w.owner}, expires {w.expires}).")
              for w in result.unused_waivers if mine(w.policy)]
    notes += [_notification("note", f"Waiver for {u.waiver.policy} on {u.waiver.resource} (owner {u.waiver.owner}, "
                                    f"expires {u.waiver.expires}) matched: {', '.join(u.urns)}.")
              for u in result.waiver_uses if mine(u.waiver.policy)]
    return notes


def _driver(rules: list[dict[str, Any]] | None) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": "crossgate", "semanticVersion": __version__, "version": __version__}
    uri = _information_uri()
    if uri:
        driver["informationUri"] = uri
    if rules is not None:
        driver["rules"] = rules
    return driver


def _run_shell(result: GateResult, locator: Locator, automation_id: str) -> dict[str, Any]:
    return {
        "automationDetails": {"id": automation_id},
        "originalUriBaseIds": {SRCROOT: {"uri": locator.root_uri,
                                         "description": {"text": "The repository root."}}},
        "columnKind": "unicodeCodePoints",
        "properties": {"project": result.project, "stack": result.stack, "verdict": result.verdict.value,
                       "unknowns": result.unknowns_mode},
    }


def sarif_doc(result: GateResult) -> dict[str, Any]:
    locator = Locator(result)
    packs = reporting_packs(result)  # a pack that failed after reporting still gets its place

    runs: list[dict[str, Any]] = []
    if not packs:
        run = _run_shell(result, locator, _automation_id(result.stack))
        run["tool"] = {"driver": _driver([])}
        run["invocations"] = [_invocation(result, [_notification("note", nothing_checked_sentence(result))],
                                          _config_notes(result, None, True))]
        run["results"] = []
        runs.append(run)

    for n, pack in enumerate(packs):
        builder = _Run(result, locator, pack)
        for finding in sorted_findings(f for f in reported_findings(result) if f.pack == pack.name):
            builder.add_finding(finding)
        for rem in sorted(result.remediations, key=lambda r: (r.policy, r.urn)):
            if rem.pack == pack.name:
                builder.add_remediation(rem)
        run = _run_shell(result, locator, _automation_id(pack.name, result.stack))
        extension: dict[str, Any] = {"name": pack.name}
        if pack.version:
            extension["version"] = pack.version
        if pack.description:
            extension["shortDescription"] = {"text": pack.description}
        driver = _driver(builder.rules)
        driver["properties"] = {"pack": pack.name, "packVersion": pack.version}
        run["tool"] = {"driver": driver, "extensions": [extension]}
        run["invocations"] = [_invocation(result, config=_config_notes(result, pack, n == 0))]
        run["results"] = builder.results
        runs.append(run)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}


def format_result(result: GateResult) -> str:
    return json.dumps(sarif_doc(result), indent=2, ensure_ascii=False) + "\n"
