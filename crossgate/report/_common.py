"""What the SARIF, JUnit and Markdown reporters share: paths, ordering, labels and severity tables.

Everything here reads the result model only (finding and policy fields, never resource inputs), so
no reporter can leak a secret value a program passed to a resource.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable

from ..model import Finding, FindingKind, GateResult, Level, PackInfo, PolicyInfo, Remediation, Severity, Waiver
#: What every reporter says when no pack was given.
NOTHING_CHECKED = "no policy pack was given: nothing was checked"
#: ... and when packs were given but the run stopped before any could be evaluated.
NO_PACK_EVALUATED = "no policy pack was evaluated because the run stopped on an error: nothing was checked"


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


#: The sentence every reporter uses when no pack was given.
NOTHING_CHECKED_SENTENCE = _sentence(NOTHING_CHECKED)


def nothing_checked(result: GateResult) -> str:
    """Why nothing was checked. A pack that failed to load is an error, never "no pack was given"."""
    return NO_PACK_EVALUATED if result.errors else NOTHING_CHECKED


def nothing_checked_sentence(result: GateResult) -> str:
    return _sentence(nothing_checked(result))

#: GitHub code scanning's ``security-severity`` scores (a string, as SARIF properties are free-form):
#: >= 9.0 is critical, >= 7.0 high, >= 4.0 medium, anything above 0 low.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}

#: A policy's resolved enforcement level as a SARIF ``defaultConfiguration.level``.
RULE_LEVEL: dict[Level, str] = {
    Level.MANDATORY: "error",
    Level.REMEDIATE: "error",
    Level.ADVISORY: "warning",
    Level.DISABLED: "none",
}

#: Most severe first, for sorting.
SEVERITY_RANK: dict[Severity, int] = {
    Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3, Severity.UNSPECIFIED: 4,
}

FINGERPRINT_KEY = "crossgate/v1"

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def resource_label(type_: str, name: str) -> str:
    return f"{type_}::{name}" if type_ else name


def waiver_note(waiver: Waiver) -> str:
    """``<reason> (owner <owner>, expires <date>)``: why a finding is hidden, and until when."""
    return f"{waiver.reason} (owner {waiver.owner}, expires {waiver.expires})"


def remediation_text(rem: Remediation) -> str:
    """What a remediation would change, by property name only (values may be secrets)."""
    keys = ", ".join(rem.changed_keys) or "nothing"
    return f"would change {keys} on {resource_label(rem.type, rem.name)}"


def framework_reference(policy: PolicyInfo) -> str:
    """``<framework> <version> <control>``, e.g. ``CIS Microsoft Azure Foundations 3.0.0 4.17``."""
    fw = policy.framework
    return " ".join(str(fw[k]).strip() for k in ("name", "version", "reference") if str(fw.get(k, "")).strip())


def fingerprint(pack: str, policy: str, urn: str, *extra: str) -> str:
    """A result identity that survives message, line and ordering changes between runs."""
    text = "\0".join((pack, policy, urn, *extra))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def warning_text(warning: str) -> str:
    """A ``GateResult.warnings`` entry without the ``warning:`` prefix program logs carry."""
    return warning[len("warning:"):].strip() if warning.lower().startswith("warning:") else warning


def warning_line(warning: str) -> str:
    """A ``GateResult.warnings`` entry as one line that says it is a warning."""
    return f"warning: {warning_text(warning)}"


def first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Drop the control characters XML 1.0 cannot carry (ANSI colour codes in a pack's stderr)."""
    return _XML_INVALID.sub("", text)


_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Drop control characters (escape sequences, carriage returns) a message could use to rewrite
    a terminal; newlines and tabs stay."""
    return _TERMINAL_UNSAFE.sub("", text)


def one_line(text: str) -> str:
    """``text`` safe for a terminal and on one line: a name, type or URN (which a program chooses)
    with a line break could otherwise print a line of its own, such as a forged verdict in a CI log."""
    return terminal_safe(text).replace("\n", "\\n").replace("\t", " ")


# -- ordering ---------------------------------------------------------------------------------

def finding_order(finding: Finding) -> tuple:
    """Blocking before advisory before waived, then most severe, then by policy and resource."""
    return (not finding.blocks, finding.waiver is not None, SEVERITY_RANK.get(finding.severity, 9), finding.pack, finding.policy,
            finding.urn)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    # sorted() is stable: several findings of one policy on one resource keep the pack's order.
    return sorted(findings, key=finding_order)


def reported_findings(result: GateResult) -> list[Finding]:
    """Violations, indeterminate and waived findings (not-applicable outcomes are not reported)."""
    return [f for f in result.findings if f.kind is not FindingKind.NOT_APPLICABLE]


def reporting_packs(result: GateResult) -> list[PackInfo]:
    """The packs evaluated, then a bare entry for any pack that reported findings or remediations but
    is missing from ``result.packs`` (it failed later), so nothing it said goes unattributed."""
    packs = list(result.packs)
    known = {p.name for p in packs}
    for name in dict.fromkeys([*(f.pack for f in result.findings), *(r.pack for r in result.remediations)]):
        if name not in known:
            packs.append(PackInfo(name=name, version="", path=""))
            known.add(name)
    return packs


def policy_lookup(packs: Iterable[PackInfo]) -> dict[tuple[str, str], PolicyInfo]:
    return {(pack.name, p.name): p for pack in packs for p in pack.policies}


# -- paths ------------------------------------------------------------------------------------

def repo_root(project_dir: str) -> str:
    """The first directory at or above ``project_dir`` holding ``.git``, else ``project_dir`` itself."""
    start = os.path.abspath(project_dir or ".")
    current = start
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return start
        current = parent


@dataclass(frozen=True)
class Place:
    """Where a finding points, for reports: ``path`` is repository-relative with forward slashes,
    unless the file lies outside the repository (then ``inside`` is False and ``path`` is absolute)."""

    path: str
    line: int
    inside: bool = True

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}"


class Locator:
    """Maps project-relative source files onto the repository root, once per report."""

    def __init__(self, result: GateResult) -> None:
        self.project_dir = os.path.abspath(result.project_dir or ".")
        self.root = repo_root(self.project_dir)
        #: Each file's path as reports show it, computed once: a large stack has few files.
        self._paths: dict[str, tuple[str, bool]] = {}
        project_file = next((name for name in PROJECT_FILES
                             if os.path.isfile(os.path.join(self.project_dir, name))), PROJECT_FILES[0])
        self.project_file = self.place(project_file, 1)

    def place(self, file: str, line: int) -> Place:
        known = self._paths.get(file)
        if known is None:
            known = self._paths[file] = self._path(file)
        return Place(known[0], max(1, line), inside=known[1])

    def _path(self, file: str) -> tuple[str, bool]:
        absolute = os.path.normpath(os.path.join(self.project_dir, file))
        try:
            rel = os.path.relpath(absolute, self.root)
        except ValueError:  # another drive, on Windows
            rel = os.pardir
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return PurePath(absolute).as_posix(), False
        return PurePath(rel).as_posix(), True

    def of(self, finding: Finding | None = None, *, result: GateResult | None = None,
           urn: str = "") -> Place:
        """A finding's declaration site, or the resource's for ``urn``; else the project file, line 1."""
        source = finding.source if finding is not None else None
        if source is None and result is not None and urn:
            resource = result.resource(urn)
            source = resource.source if resource is not None else None
        if source is None or not source.file:
            return self.project_file
        return self.place(source.file, source.line)

    @property
    def root_uri(self) -> str:
        return PurePath(self.root).as_uri().rstrip("/") + "/"
