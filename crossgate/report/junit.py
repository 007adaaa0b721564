"""JUnit XML (``--format junit``), for the test tabs of GitHub, GitLab, Azure DevOps and Jenkins.

One ``<testsuite>`` per policy pack; one ``<testcase>`` per finding, failing only when the finding
blocks the gate; one passing ``<testcase>`` per policy that found nothing, so a reader sees what was
checked, not only what failed. Only the common attribute names are used, and every count is derived
from the elements actually written.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from ..model import Finding, FindingKind, GateResult, Level, PackInfo, PolicyInfo, Remediation
from ._common import (first_line, Locator, nothing_checked_sentence, remediation_text, reported_findings,
                      reporting_packs, resource_label, sorted_findings, waiver_note, warning_line, xml_safe)

TOOL = "crossgate"
_OUTCOMES = ("failure", "error", "skipped")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


class _Suite:
    def __init__(self, parent: ET.Element, name: str) -> None:
        self.element = _sub(parent, "testsuite", name=name)
        self._names: dict[tuple[str, str], int] = defaultdict(int)

    def case(self, classname: str, name: str, place: str | None = None) -> ET.Element:
        # Several findings of one policy on one resource would share a name; number the repeats.
        self._names[(classname, name)] += 1
        nth = self._names[(classname, name)]
        attrs = {"classname": classname, "name": name if nth == 1 else f"{name} ({nth})"}
        if place:
            path, _, line = place.rpartition(":")
            attrs.update(file=path, line=line)
        return _sub(self.element, "testcase", **attrs)

    def finish(self, notes: list[str]) -> None:
        if notes:
            _sub(self.element, "system-out", "\n".join(notes))
        _count(self.element, self.element.findall("testcase"))


def _count(element: ET.Element, cases: list[ET.Element]) -> dict[str, int]:
    counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    for case in cases:
        for outcome, key in zip(_OUTCOMES, ("failures", "errors", "skipped")):
            counts[key] += len(case.findall(outcome))
    for key, value in counts.items():
        element.set(key, str(value))
    return counts


def _details(finding: Finding, policy: PolicyInfo | None, place: str) -> str:
    lines = [finding.message.strip() or finding.policy, ""]
    if policy is not None and policy.remediation.strip():
        lines.append(f"Remediation: {policy.remediation.strip()}")
    lines.append(f"Resource: {finding.urn}")
    lines.append(f"Declared at: {place}")
    lines.append(f"Enforcement level: {finding.level.value}; severity: {finding.severity.value or 'unspecified'}")
    if policy is not None and policy.url:
        lines.append(f"More information: {policy.url}")
    return "\n".join(lines)


def _add_finding(suite: _Suite, finding: Finding, policy: PolicyInfo | None, locator: Locator) -> None:
    place = locator.of(finding).label
    case = suite.case(f"{finding.pack}.{finding.policy}",
                      f"{finding.policy} :: {resource_label(finding.type, finding.name)}", place)
    indeterminate = finding.kind is FindingKind.INDETERMINATE
    message = finding.message.strip() or finding.policy
    if indeterminate:
        message = f"Indeterminate: {message}"
    if finding.waiver is not None:
        _sub(case, "skipped", f"Would have been {finding.level.value}: {message}",
             message=f"waived: {waiver_note(finding.waiver)}")
    elif finding.blocks:
        _sub(case, "failure", _details(finding, policy, place), message=first_line(message),
             type="indeterminate" if indeterminate else finding.level.value)
    else:
        _sub(case, "system-out", f"advisory: {message}\nResource: {finding.urn}\nDeclared at: {place}")


def _add_remediation(suite: _Suite, rem: Remediation, result: GateResult, locator: Locator) -> None:
    place = locator.of(result=result, urn=rem.urn).label
    case = suite.case(f"{rem.pack}.{rem.policy}",
                      f"{rem.policy} :: {resource_label(rem.type, rem.name)} (remediation)", place)
    text = f"remediation: {remediation_text(rem)}"
    if rem.message.strip():
        text += f"\n{rem.message.strip()}"
    _sub(case, "system-out", f"{text}\nResource: {rem.urn}")


def _pack_suite(root: ET.Element, pack: PackInfo, result: GateResult, locator: Locator,
                findings: list[Finding], remediations: list[Remediation], notes: list[str]) -> None:
    suite = _Suite(root, f"{pack.name}@{pack.version or '?'}")
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted_findings(findings):
        by_policy[finding.policy].append(finding)
    rems: dict[str, list[Remediation]] = defaultdict(list)
    for rem in sorted(remediations, key=lambda r: r.urn):
        rems[rem.policy].append(rem)

    names = [p.name for p in pack.policies]
    names += [n for n in dict.fromkeys([*by_policy, *rems]) if n not in names]
    for name in names:
        policy = pack.policy(name)
        for finding in by_policy.get(name, []):
            _add_finding(suite, finding, policy, locator)
        for rem in rems.get(name, []):
            _add_remediation(suite, rem, result, locator)
        if by_policy.get(name) or rems.get(name):
            continue
        case = suite.case(f"{pack.name}.{name}", name)
        if policy is not None and policy.enforcement_level is Level.DISABLED:
            _sub(case, "skipped", message="disabled")

    names_in_pack = set(names)
    notes = notes + [f"expired waiver: {w.policy} on {w.resource} (owner {w.owner}, expired {w.expires})"
             for w in result.expired_waivers if w.policy in names_in_pack]
    notes += [f"unused waiver: {w.policy} on {w.resource} matched nothing (owner {w.owner}, expires {w.expires})"
              for w in result.unused_waivers if w.policy in names_in_pack]
    notes += [f"waiver: {u.waiver.policy} on {u.waiver.resource} matched {', '.join(u.urns)} (owner {u.waiver.owner}, "
              f"expires {u.waiver.expires})" for u in result.waiver_uses if u.waiver.policy in names_in_pack]
    suite.finish(notes)


def _run_notes(result: GateResult) -> list[str]:
    """Notes on the whole run (warnings, config downgrades), carried by the first suite."""
    return [*(warning_line(w) for w in result.warnings), *(f"downgrade: {d}" for d in result.downgrades)]


def junit_tree(result: GateResult) -> ET.Element:
    locator = Locator(result)
    root = ET.Element("testsuites", {"name": TOOL})
    findings = reported_findings(result)
    packs = reporting_packs(result)  # a pack that failed after reporting still gets its place
    for n, pack in enumerate(packs):
        # Config notes belong to the whole run: the first suite carries them.
        _pack_suite(root, pack, result, locator, [f for f in findings if f.pack == pack.name],
                    [r for r in result.remediations if r.pack == pack.name],
                    _run_notes(result) if n == 0 else [])

    if result.errors or not result.packs:
        suite = _Suite(root, TOOL)
        if not result.packs:
            case = suite.case(TOOL, "policy packs")
            _sub(case, "skipped", message=nothing_checked_sentence(result))
        for i, error in enumerate(result.errors, start=1):
            case = suite.case(TOOL, f"error {i}")
            _sub(case, "error", error, message=first_line(error), type="error")
        suite.finish([] if packs else _run_notes(result))

    _count(root, root.findall("testsuite/testcase"))
    root.set("time", f"{result.duration_seconds:.3f}")
    return root


def format_result(result: GateResult) -> str:
    root = junit_tree(result)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
