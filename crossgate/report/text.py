"""The console report (``--format table``, the default), shaped like ``pulumi preview --policy-pack``.

The plan first, then a ``Policies:`` section with one line per pack, then the findings grouped by
resource (blocking, then advisory, then waived), each with its policy, level, severity, message,
declaring file:line, remediation and link; then what needs review and the warnings, and a one-line
verdict whose counts are the JSON summary's. Errors are not repeated here: the CLI prints each one
once on stderr, and the verdict counts them.

:func:`format_result` is pure. With the default :data:`PLAIN` style it writes stable text for CI
logs and files; :func:`terminal_style` adds colour and wrapping for an interactive terminal only.
"""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, TextIO

from ..model import Finding, FindingKind, GateResult, Level, PackInfo, PolicyInfo, Severity, Verdict
from ._common import (SEVERITY_RANK, Locator, framework_reference, nothing_checked, one_line, plural,
                      policy_lookup, reported_findings, reporting_packs, sorted_findings, terminal_safe, warning_text)

#: Columns assumed when the width matters but is unknown (``crossgate policies`` off a terminal).
DEFAULT_WIDTH = 80
INDENT = "    "


# -- style ------------------------------------------------------------------------------------

_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


@dataclass(frozen=True)
class Style:
    """How to render: ANSI colour or not, and the width to wrap to (``None``: never wrap)."""

    color: bool = False
    width: int | None = None

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{';'.join(_SGR[s] for s in styles)}m{text}\x1b[0m"

    def wrap(self, text: str, indent: str, first: str | None = None, *, break_words: bool = False) -> list[str]:
        """``text`` (several lines allowed) indented, and wrapped when a width is set. A word longer
        than the width (a URL) stays whole unless ``break_words``."""
        out: list[str] = []
        prefix = indent if first is None else first
        for line in terminal_safe(text).expandtabs(4).splitlines() or [""]:
            line = line.rstrip()
            if self.width is None or len(prefix) + len(line) <= self.width:
                out.append((prefix + line).rstrip())
            else:
                out += textwrap.wrap(line, width=max(20, self.width), initial_indent=prefix,
                                     subsequent_indent=indent, break_long_words=break_words, break_on_hyphens=False)
            prefix = indent
        return out


PLAIN = Style()


def terminal_width(stream: TextIO, environ: Mapping[str, str] | None = None) -> int | None:
    """``COLUMNS`` when set, else the width of the terminal behind ``stream``, else ``None``."""
    environ = os.environ if environ is None else environ
    columns = environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, OSError, ValueError):
        return None


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_style(stream: TextIO, environ: Mapping[str, str] | None = None) -> Style:
    """Colour and width on an interactive terminal only; plain, unwrapped text anywhere else.
    Colour honours ``NO_COLOR`` (any non-empty value) and ``TERM=dumb``."""
    environ = os.environ if environ is None else environ
    if not is_terminal(stream):
        return PLAIN
    color = not environ.get("NO_COLOR") and environ.get("TERM", "") != "dumb"
    return Style(color=color, width=terminal_width(stream, environ) or DEFAULT_WIDTH)


# -- tables -----------------------------------------------------------------------------------

def columns(rows: list[tuple[str, ...]], header: tuple[str, ...], indent: str = "") -> list[str]:
    """Rows as aligned columns under a header and a rule."""
    rows = [tuple(one_line(str(c)) for c in row) for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = indent + "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*row).rstrip() for row in rows]
    return lines


# -- the report -------------------------------------------------------------------------------

_ORIGIN = {"preview": "Previewing", "stack-export": "Checking the stack export of",
           "preview-json": "Checking the preview JSON of", "plan": "Checking the plan of"}

_LEVEL_COLOR = {Level.MANDATORY: "red", Level.REMEDIATE: "red", Level.ADVISORY: "yellow", Level.DISABLED: "dim"}


class _Writer:
    def __init__(self, result: GateResult, style: Style) -> None:
        self.result = result
        self.style = style
        self.locator = Locator(result)
        self.policies = policy_lookup(result.packs)
        self.several_packs = len({f.pack for f in result.findings} | {p.name for p in result.packs}) > 1
        self.out: list[str] = []

    def add(self, *lines: str) -> None:
        self.out.extend(lines)

    def heading(self, title: str) -> None:
        self.add("", self.style.paint(title, "bold"))

    def where(self, file: str | None, line: int) -> str:
        return self.locator.place(file, line).label if file else ""

    # -- sections ----------------------------------------------------------------------------

    def header(self) -> None:
        r = self.result
        what = _ORIGIN.get(r.origin, "Checking")
        self.add(self.style.paint(f"{what} {r.project or '?'} (stack {r.stack or '?'})"
                                  + (" offline" if r.origin == "preview" else ""), "bold"))

    def plan(self) -> None:
        r = self.result
        if not r.resources:
            return
        self.add("")
        rows = [(res.type, res.name, self.where(res.source.file, res.source.line) if res.source else "")
                for res in r.resources]
        table = columns(rows, ("TYPE", "NAME", "DECLARED AT"), indent=INDENT)
        if self.style.width is None or max(len(line) for line in table) <= self.style.width:
            self.add(*table)
        else:  # too wide for this terminal: one resource per entry, wrapped, nothing cut off
            for type_, name, where in rows:
                self.add(*self.style.wrap(f"{type_} ({name})" + (f"  {where}" if where else ""), INDENT * 2,
                                          first=INDENT))
        self.add(f"{plural(len(r.resources), 'resource')} planned")
        for placeholder, title in ((True, "Invokes answered with placeholder values"),
                                   (False, "Invokes with no placeholder (their results are unknown)")):
            invokes = [i for i in r.invokes if i.placeholder is placeholder]
            if invokes:
                listed = ", ".join(i.token + (f" (x{i.count})" if i.count > 1 else "") for i in invokes)
                self.add(*self.style.wrap(f"{title}: {listed}", INDENT, first=""))

    def packs(self) -> None:
        packs = reporting_packs(self.result)
        if not packs:
            self.add("", f"Note: {nothing_checked(self.result)}.")
            return
        self.heading("Policies:")
        for pack in packs:
            self.pack_line(pack)

    def pack_line(self, pack: PackInfo) -> None:
        mine = [f for f in reported_findings(self.result) if f.pack == pack.name]
        blocking = sum(1 for f in mine if f.blocks)
        advisory = sum(1 for f in mine if not f.blocks and f.waiver is None)
        waived = sum(1 for f in mine if f.waiver is not None)
        if self.result.errors:
            mark, color = "[incomplete]", "red"
        elif blocking:
            mark, color = "[fail]", "red"
        elif advisory:
            mark, color = "[warn]", "yellow"
        else:
            mark, color = "[pass]", "green"
        # A bare entry (see reporting_packs) is a pack that reported, then failed: its policies are unknown.
        counts = ", ".join([plural(len(pack.policies), "policy", "policies") if pack.path else "failed",
                            f"{blocking} blocking", f"{advisory} advisory", f"{waived} waived"])
        local = f" (local: {_display_path(pack.path)})" if pack.path else ""
        lines = self.style.wrap(f"{pack.name}@v{pack.version or '?'}{local}: {counts}",
                                INDENT * 2, first=f"{INDENT}{mark} ")
        lines[0] = lines[0].replace(mark, self.style.paint(mark, color, "bold"), 1)
        self.add(*lines)
        by_policy: dict[str, list] = defaultdict(list)
        for rem in self.result.remediations:
            if rem.pack == pack.name:
                by_policy[rem.policy].append(rem)
        for policy in sorted(by_policy):
            rems = by_policy[policy]
            keys = sorted({k for rem in rems for k in rem.changed_keys})
            text = (f"[remediate] {policy} ({plural(len(rems), 'resource')}): would change "
                    f"{', '.join(keys) or 'nothing'}")
            self.add(*self.style.wrap(text, INDENT * 2 + "  ", first=INDENT * 2 + "- "))

    def findings(self) -> None:
        reported = reported_findings(self.result)
        groups = (("Blocking", [f for f in reported if f.blocks]),
                  ("Advisory", [f for f in reported if not f.blocks and f.waiver is None]),
                  ("Waived", [f for f in reported if f.waiver is not None]))
        for title, findings in groups:
            if findings:
                self.heading(f"{title} ({len(findings)}):")
                self.by_resource(findings)
        # What each waiver's glob covered, so a reviewer sees when it starts hiding a new resource.
        labels = {f.urn: f"{f.type} ({f.name})" if f.type else f.urn for f in self.result.waived}
        self.notes("Waivers applied:", (
            f"{u.waiver.policy} on {u.waiver.resource} (owner {u.waiver.owner}, expires {u.waiver.expires}) "
            f"matched {', '.join(labels.get(urn, urn) for urn in u.urns)}" for u in self.result.waiver_uses))

    def by_resource(self, findings: list[Finding]) -> None:
        groups: dict[str, list[Finding]] = defaultdict(list)
        for finding in sorted_findings(findings):
            groups[finding.urn].append(finding)
        order = {res.urn: res.order for res in self.result.resources}

        def rank(urn: str) -> tuple:
            worst = min(SEVERITY_RANK.get(f.severity, 9) for f in groups[urn])
            return worst, order.get(urn, len(order)), urn

        for urn in sorted(groups, key=rank):
            first = groups[urn][0]
            where = self.where(first.source.file, first.source.line) if first.source else ""
            title = one_line(f"{first.type} ({first.name})" if first.type else first.urn)
            lines = self.style.wrap(title + (f"  {where}" if where else ""), INDENT, first="  ")
            lines[0] = lines[0].replace(title, self.style.paint(title, "blue", "bold"), 1)
            self.add(*lines)
            for finding in groups[urn]:
                self.finding(finding)

    def finding(self, f: Finding) -> None:
        style = self.style
        policy = f"{f.pack}/{f.policy}" if self.several_packs else f.policy
        level = style.paint(f"[{f.level.value}]", _LEVEL_COLOR.get(f.level, "dim"))
        more = INDENT + "  "
        self.add(f"{INDENT}- {level} {style.paint(one_line(policy), 'bold')}  {_severity(f.severity)}")
        if f.kind is FindingKind.INDETERMINATE:
            self.add(*style.wrap("could not decide: a value it reads is unknown until deployment", more))
        self.add(*style.wrap(f.message.strip() or f.policy, more))
        info = self.policies.get((f.pack, f.policy))
        if f.waiver is not None:
            w = f.waiver
            self.add(*style.wrap(f"waived until {w.expires} by {w.owner}: {w.reason}", more))
        if info is not None and info.remediation.strip():
            self.add(*style.wrap(f"remediation: {info.remediation.strip()}", more))
        if info is not None and info.url:
            self.add(*style.wrap(f"more: {info.url}", more))

    def review(self) -> None:
        r = self.result
        lines = [f"policy level lowered: {d}" for d in r.downgrades]
        lines += [f"expired waiver: {w.policy} on {w.resource} (owner {w.owner}, expired {w.expires}): "
                  "it no longer hides anything" for w in r.expired_waivers]
        lines += [f"unused waiver: {w.policy} on {w.resource} (owner {w.owner}, expires {w.expires}) "
                  "matched nothing" for w in r.unused_waivers]
        self.notes("To review:", lines)
        self.notes("Warnings:", (warning_text(w) for w in r.warnings))

    def notes(self, title: str, lines: Iterable[str]) -> None:
        lines = list(lines)
        if not lines:
            return
        self.heading(title)
        for line in lines:
            self.add(*self.style.wrap(line, INDENT + "  ", first=INDENT + "- "))

    def verdict(self) -> None:
        self.add("", verdict_line(self.result, self.style))


def _severity(severity: Severity) -> str:
    return severity.value or "unspecified"


def _display_path(path: str) -> str:
    """A pack's directory relative to the working directory when below it, as the user typed it."""
    if not path:
        return "?"
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def verdict_line(result: GateResult, style: Style = PLAIN) -> str:
    """One line: the verdict, then the JSON summary's counts under the same names."""
    s = result.summary()
    verdict = result.verdict
    if verdict is Verdict.ERROR:
        head = style.paint("ERROR", "red", "bold") + " (the gate could not complete its evaluation)"
    elif verdict is Verdict.FAIL:
        head = style.paint("FAIL", "red", "bold")
    else:
        head = style.paint("PASS", "green", "bold") + ("" if result.checked else " (nothing checked)")
    counts = ", ".join([f"{s['blocking']} blocking", f"{s['advisory']} advisory", f"{s['indeterminate']} indeterminate",
                        f"{s['waived']} waived", plural(s["remediations"], "remediation"),
                        plural(s["errors"], "error") + (" (printed on stderr)" if s["errors"] else "")])
    scope = ", ".join([plural(s["resources"], "resource"), plural(s["packs"], "pack"),
                       plural(s["policies"], "policy", "policies")])
    return f"{head}: {counts}; {scope}; {result.duration_seconds:.2f}s (exit {s['exitCode']})"


def format_result(result: GateResult, style: Style = PLAIN) -> str:
    w = _Writer(result, style)
    w.header()
    w.plan()
    w.packs()
    w.findings()
    w.review()
    w.verdict()
    return "\n".join(w.out) + "\n"


# -- `crossgate policies` ---------------------------------------------------------------------

def policy_types(policy: PolicyInfo) -> list[str]:
    """Resource types a policy covers, when its pack lists them as ``type:<token>`` tags."""
    return [t[len("type:"):] for t in policy.tags if t.startswith("type:")]


def policy_references(policy: PolicyInfo) -> list[str]:
    refs = [t for t in policy.tags if not t.startswith("type:") and t != "security"]
    if not refs:
        reference = framework_reference(policy)
        if reference:
            refs.append(reference)
    return refs


def format_policies(packs: Iterable[PackInfo], width: int = DEFAULT_WIDTH) -> str:
    """Each pack's policies in columns (name, level, severity, kind) with the description, types and
    references wrapped below each, every line within ``width`` columns (the listing has no URL, so a
    type token longer than the width is broken). Narrower than the columns: one field per line."""
    style = Style(width=max(20, width))
    out: list[str] = []
    for n, pack in enumerate(packs):
        if n:
            out.append("")
        out += style.wrap(f"{pack.name}@v{pack.version or '?'} (local: {_display_path(pack.path)}): "
                          f"{plural(len(pack.policies), 'policy', 'policies')}", INDENT, first="", break_words=True)
        if pack.description.strip():
            out += style.wrap(pack.description.strip(), "", break_words=True)
        out.append("")
        header = ("NAME", "LEVEL", "SEVERITY", "KIND")
        rows = [(p.name, p.enforcement_level.value, _severity(p.severity), p.kind) for p in pack.policies]
        table = columns(rows, header)
        stacked = max(len(line) for line in table) > style.width
        if not stacked:
            out += table[:2]
        for row, (policy, line) in zip(rows, zip(pack.policies, table[2:])):
            if stacked:
                out += style.wrap(policy.name, INDENT, first="", break_words=True)
                out += style.wrap(f"level {row[1]}, severity {row[2]}, {row[3]} policy", INDENT, break_words=True)
            else:
                out.append(line)
            details = [policy.description.strip() or policy.display_name or "-"]
            if policy.default_level is not policy.enforcement_level:
                details.append(f"default level: {policy.default_level.value}")
            types = policy_types(policy)
            if types:
                details.append("types: " + ", ".join(types))
            refs = policy_references(policy)
            if refs:
                details.append("references: " + ", ".join(refs))
            for detail in details:
                out += style.wrap(detail, INDENT + "  ", first=INDENT, break_words=True)
    return "\n".join(out) + "\n"
