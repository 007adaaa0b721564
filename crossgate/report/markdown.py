"""A Markdown summary (``--format markdown``) for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

The verdict comes first, as a heading a reviewer can read at a glance; then what was checked,
the findings that block, the ones that do not, what waivers hid and why, and what went wrong.
Every cell is escaped, so a message cannot break the table or inject markup.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ..model import Finding, GateResult, PolicyInfo, Severity, Verdict
from ._common import (NOTHING_CHECKED_SENTENCE, Locator, plural, policy_lookup, resource_label,
                      sorted_findings, xml_safe)

#: Rows per table; GitHub caps a comment at 65,536 characters, and the full list is in the other reports.
MAX_ROWS = 100

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def text(value: str) -> str:
    """Plain text safe in a table cell: markup characters escaped, newlines as ``<br>``."""
    value = xml_safe(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_SPECIAL.sub(r"\\\1", value.strip())
    return "<br>".join(line.strip() for line in value.splitlines()) if value else ""


def code(value: str) -> str:
    """An inline code span that survives any backticks or pipes in ``value``."""
    value = " ".join(value.split())
    if not value:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    # A pipe ends a table cell even inside a code span; GitHub drops the backslash again.
    return f"{fence}{pad}{value.replace('|', chr(92) + '|')}{pad}{fence}"


def _link(label: str, url: str) -> str:
    if not url:
        return label
    safe = url.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("|", "%7C")
    return f"[{label}]({safe})"


def _table(header: Sequence[str], rows: list[Sequence[str]], what: str) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"... and {len(rows) - MAX_ROWS} more {what} (see the SARIF or JSON report)."]
    return lines


class _Writer:
    def __init__(self, result: GateResult) -> None:
        self.result = result
        self.locator = Locator(result)
        self.policies = policy_lookup(result.packs)
        self.several_packs = len({f.pack for f in result.findings} | {p.name for p in result.packs}) > 1

    def policy_info(self, pack: str, policy: str) -> PolicyInfo | None:
        return self.policies.get((pack, policy))

    def policy_cell(self, pack: str, policy: str) -> str:
        info = self.policy_info(pack, policy)
        label = code(f"{pack}/{policy}" if self.several_packs else policy)
        return _link(label, info.url if info else "")

    def resource_cell(self, finding: Finding) -> str:
        cell = code(resource_label(finding.type, finding.name))
        if finding.source is not None:
            cell += "<br>" + code(self.locator.of(finding).label)
        return cell


def _severity(severity: Severity) -> str:
    return severity.value or "unspecified"


def _heading(result: GateResult) -> str:
    verdict = result.verdict
    if verdict is Verdict.ERROR:
        return "## crossgate: ERROR \u2014 the gate could not complete"
    if verdict is Verdict.FAIL:
        return f"## crossgate: FAIL \u2014 {plural(len(result.blocking), 'blocking finding')}"
    if not result.checked:
        return "## crossgate: PASS \u2014 nothing was checked"
    return "## crossgate: PASS \u2014 no blocking findings"


def _context(result: GateResult) -> str:
    parts = [f"Project {code(result.project or '?')}", f"stack {code(result.stack or '?')}"]
    if result.packs:
        packs = ", ".join(f"{code(p.name + '@' + (p.version or '?'))} ({plural(len(p.policies), 'policy', 'policies')})"
                          for p in result.packs)
        parts.append(f"{'pack' if len(result.packs) == 1 else 'packs'} {packs}")
    else:
        parts.append("no policy pack")
    parts.append(plural(len(result.resources), "resource"))
    parts.append(f"{result.duration_seconds:.2f} s")
    return " \u00b7 ".join(parts)


def _counts(result: GateResult) -> str:
    s = result.summary()
    return " \u00b7 ".join([
        f"**{s['blocking']} blocking**",
        f"{s['advisory']} advisory",
        f"{s['indeterminate']} indeterminate",
        f"{s['waived']} waived",
        plural(s["remediations"], "remediation"),
        plural(s["errors"], "error"),
    ])


def _section(title: str, body: Iterable[str]) -> list[str]:
    return ["", f"### {title}", "", *body]


def format_result(result: GateResult) -> str:
    w = _Writer(result)
    out = [_heading(result), "", _context(result), "", _counts(result)]

    if not result.checked:
        out += ["", NOTHING_CHECKED_SENTENCE]

    if result.errors:
        out += _section("Errors", [
            "The gate stopped before it finished: the findings below may be incomplete.", "",
            *(f"- {text(e)}" for e in result.errors)])

    violations = sorted_findings(result.violations)
    if violations:
        rows = []
        for f in violations:
            info = w.policy_info(f.pack, f.policy)
            rows.append((
                f"{_severity(f.severity)}, {'blocking' if f.blocks else 'advisory'}",
                w.policy_cell(f.pack, f.policy),
                w.resource_cell(f),
                text(f.message),
                text(info.remediation) if info else "",
            ))
        out += _section("Violations", _table(("Severity", "Policy", "Resource", "Message", "Remediation"),
                                             rows, "violations"))

    indeterminate = sorted_findings(result.indeterminate)
    if indeterminate:
        rows = [("blocking" if f.blocks else "advisory", w.policy_cell(f.pack, f.policy), w.resource_cell(f),
                 text(f.message)) for f in indeterminate]
        out += _section("Indeterminate", [
            "These policies read a value that is unknown until deployment, so they could not decide.", "",
            *_table(("Effect", "Policy", "Resource", "Message"), rows, "indeterminate findings")])

    waived = sorted_findings(result.waived)
    if waived:
        rows = [(w.policy_cell(f.pack, f.policy), w.resource_cell(f), text(f.waiver.reason),
                 text(f.waiver.owner), text(f.waiver.expires)) for f in waived if f.waiver is not None]
        out += _section("Waived", _table(("Policy", "Resource", "Reason", "Owner", "Expires"), rows,
                                         "waived findings"))
        out += ["", "What each waiver matched:", ""]
        out += [f"- {code(u.waiver.policy)} on {code(u.waiver.resource)}: " + ", ".join(code(urn) for urn in u.urns)
                for u in result.waiver_uses]

    if result.expired_waivers or result.unused_waivers:
        lines = [f"- Expired: {code(x.policy)} on {code(x.resource)} (owner {text(x.owner)}, expired "
                 f"{text(x.expires)}): it no longer hides anything." for x in result.expired_waivers]
        lines += [f"- Unused: {code(x.policy)} on {code(x.resource)} (owner {text(x.owner)}, expires "
                  f"{text(x.expires)}) matched nothing." for x in result.unused_waivers]
        out += _section("Waivers to review", lines)

    if result.remediations:
        rows = [(w.policy_cell(r.pack, r.policy), code(resource_label(r.type, r.name)),
                 text(", ".join(r.changed_keys) or "nothing")) for r in
                sorted(result.remediations, key=lambda r: (r.pack, r.policy, r.urn))]
        out += _section("Remediations", [
            "Remediate-level policies would change these inputs on deployment.", "",
            *_table(("Policy", "Resource", "Would change"), rows, "remediations")])

    if result.downgrades:
        out += _section("Policy levels lowered by config", [f"- {text(d)}" for d in result.downgrades])

    return "\n".join(out) + "\n"

