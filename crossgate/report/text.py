"""The readable console report (``--format table``, the default)."""

from __future__ import annotations

from ..model import Finding, GateResult, Verdict
from .json_report import NOTHING_CHECKED


def columns(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    """Rows as aligned columns under a header and a rule (also used by `crossgate policies`)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*row).rstrip() for row in rows]
    return lines


def _where(finding: Finding) -> str:
    return f"{finding.source.file}:{finding.source.line}" if finding.source else ""


def format_result(result: GateResult) -> str:
    what = {"preview": "Previewing", "stack-export": "Checking the stack export of",
            "preview-json": "Checking the preview JSON of",
            "plan": "Checking the plan of"}.get(result.origin, "Checking")
    out: list[str] = [f"{what} {result.project or '?'} (stack {result.stack})"
                      + (" offline" if result.origin == "preview" else "")]
    if result.resources:
        out.append("")
        rows = [(r.type, r.name, f"{r.source.file}:{r.source.line}" if r.source else "")
                for r in result.resources if not r.type.startswith("pulumi:providers:")]
        out += columns(rows, ("TYPE", "NAME", "DECLARED AT"))
        out.append(f"{len(rows)} resources planned")
    placeholders = [i for i in result.invokes if i.placeholder]
    others = [i for i in result.invokes if not i.placeholder]
    if placeholders:
        out.append("Invokes answered with placeholder values: " + ", ".join(i.token for i in placeholders))
    if others:
        out.append("Invokes answered with an empty result: " + ", ".join(i.token for i in others))
    for warning in result.warnings:
        out.append(f"program {warning}")

    if result.packs:
        out.append("")
        for pack in result.packs:
            out.append(f"Policy pack {pack.name}@{pack.version or '?'}: {len(pack.policies)} policies")
        for title, findings in (("Violations", result.violations), ("Indeterminate (value unknown in preview)",
                                                                       result.indeterminate),
                                ("Waived", result.waived)):
            if not findings:
                continue
            out.append("")
            out.append(f"{title}:")
            for f in findings:
                mark = "BLOCK" if f.blocks else f.level.value
                out.append(f"  [{mark}] {f.policy} ({f.severity.value or '-'}) {f.type}::{f.name}"
                           + (f"  at {_where(f)}" if f.source else ""))
                for line in f.message.splitlines():
                    out.append(f"      {line}")
                if f.waiver:
                    out.append(f"      waived until {f.waiver.expires} by {f.waiver.owner}: {f.waiver.reason}")
        for rem in result.remediations:
            out.append(f"  [remediate] {rem.policy} would change {', '.join(rem.changed_keys) or 'nothing'} "
                       f"on {rem.type}::{rem.name}")
        for note in result.downgrades:
            out.append(f"  downgrade: {note}")
        for w in result.expired_waivers:
            out.append(f"  expired waiver: {w.policy} on {w.resource} (expired {w.expires})")
        for w in result.unused_waivers:
            out.append(f"  unused waiver: {w.policy} on {w.resource} matched nothing")
    else:
        out.append("")
        out.append(f"Note: {NOTHING_CHECKED}.")

    for error in result.errors:
        out.append(f"error: {error}")
    s = result.summary()
    verdict = result.verdict
    if verdict is Verdict.ERROR:
        line = "ERROR: the gate could not complete its evaluation (exit 2)"
    elif verdict is Verdict.FAIL:
        line = f"FAIL: {s['blocking']} blocking finding(s) (exit 1)"
    else:
        line = "PASS" + ("" if result.checked else " (nothing checked)")
    out.append("")
    out.append(f"{line}; {s['violations']} violation(s), {s['indeterminate']} indeterminate, "
               f"{s['waived']} waived, {s['resources']} resources, {result.duration_seconds:.2f}s")
    return "\n".join(out) + "\n"
