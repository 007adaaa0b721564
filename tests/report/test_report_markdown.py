"""Markdown: the verdict first, then tables that a message cannot break."""

from __future__ import annotations

import dataclasses

from crossgate.model import GateResult
from crossgate.report import formatter
from crossgate.report.markdown import code, text

markdown_format = formatter("markdown")


def test_starts_with_the_verdict(sample: GateResult) -> None:
    md = markdown_format(sample)
    assert md.startswith("## crossgate: FAIL \u2014 3 blocking findings\n")
    assert "Project `demo` \u00b7 stack `dev` \u00b7 pack `demo-pack@1.2.0` (7 policies)" in md


def test_violation_rows_blocking_first(sample: GateResult) -> None:
    md = markdown_format(sample)
    row = ("| critical, blocking | [`bucket-https-only`](https://example.com/policies/bucket-https-only) | "
           "`test:index:Bucket::logs`<br>`app/__main__.py:12` | bucket accepts HTTP \\| not only HTTPS | "
           "Set httpsOnly to true. |")
    assert row in md.splitlines()
    assert md.index("| high, blocking | `stack-limit`") < md.index("| low, advisory | `bucket-owner-tag`")
    assert "5 buckets<br>the limit is 3" in md  # a newline does not end the row


def test_sections(sample: GateResult) -> None:
    md = markdown_format(sample)
    headings = [line for line in md.splitlines() if line.startswith("### ")]
    assert headings == ["### Violations", "### Indeterminate", "### Waived", "### Waivers to review",
                        "### Remediations", "### Policy levels lowered by config", "### Warnings"]
    assert ("| [`bucket-https-only`](https://example.com/policies/bucket-https-only) | "
            "`test:index:Bucket::archive`<br>`app/storage/buckets.py:41` | Legacy reader needs HTTP | team-data | "
            "2099-12-31 |") in md
    assert "- Expired: `bucket-owner-tag` on `urn:pulumi:dev::demo::test:index:Bucket::old-*`" in md
    assert "| `auto-labels` | `test:index:Bucket::logs` | labels |" in md
    assert "**3 blocking** \u00b7 1 advisory \u00b7 1 indeterminate \u00b7 1 waived" in md


def test_error(errored: GateResult) -> None:
    md = markdown_format(errored)
    assert md.startswith("## crossgate: ERROR \u2014 the gate could not complete\n")
    assert "- policy pack demo-pack: timed out evaluating policies (raise --timeout)" in md
    assert "&lt;boom&gt; &amp;" in md and "\x1b" not in md


def test_nothing_checked(empty: GateResult) -> None:
    md = markdown_format(empty)
    assert md.startswith("## crossgate: PASS \u2014 nothing was checked\n")
    assert "\nNo policy pack was given: nothing was checked.\n" in md
    assert "###" not in md


def test_pass(sample: GateResult) -> None:
    sample = dataclasses.replace(sample, findings=[f for f in sample.findings if not f.blocks])
    assert markdown_format(sample).startswith("## crossgate: PASS \u2014 no blocking findings\n")


def test_singular(sample: GateResult) -> None:
    sample = dataclasses.replace(sample, findings=[f for f in sample.findings if not f.blocks or f.policy == "stack-limit"])
    assert markdown_format(sample).startswith("## crossgate: FAIL \u2014 1 blocking finding\n")


def test_escaping() -> None:
    assert text("a | b\nc <script> *x* [l](u)") == "a \\| b<br>c &lt;script&gt; \\*x\\* \\[l\\](u)"
    assert code("a|b") == "`a\\|b`"
    assert code("x `y` z") == "``x `y` z``"


def test_long_tables_are_capped(sample: GateResult) -> None:
    from crossgate.report.markdown import MAX_ROWS

    advisory = next(f for f in sample.findings if f.policy == "bucket-owner-tag")
    sample = dataclasses.replace(sample, findings=[*sample.findings, *(
        dataclasses.replace(advisory, urn=f"{advisory.urn}-{i}") for i in range(MAX_ROWS + 5))])
    md = markdown_format(sample)
    assert "... and 8 more violations (see the SARIF or JSON report)." in md
