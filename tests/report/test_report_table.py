"""The console report (``--format table``) and ``crossgate policies``: grouping, counts, errors once,
colour and width on a terminal only, and golden files of real runs (the sketch, the reference
stack, a pack that fails to load).

Regenerate the goldens after an intended change with ``CROSSGATE_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from crossgate.model import Finding, FindingKind, GateResult, Level, Severity, SourceLocation
from crossgate.report import formatter
from crossgate.report.text import PLAIN, Style, format_policies, format_result, terminal_style, terminal_width

import report_data
from helpers import FIXTURES, REPO, run_crossgate

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CROSSGATE_UPDATE_GOLDEN") == "1"
PACK = "policies"


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def section(text: str, title: str) -> list[str]:
    """The lines of one ``Title (n):`` section, up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


# -- grouping and content ---------------------------------------------------------------------

def test_findings_are_grouped_by_resource_blocking_then_advisory_then_waived(sample) -> None:
    text = format_result(sample)
    titles = [line for line in text.splitlines() if re.match(r"^(Blocking|Advisory|Waived) \(\d+\):$", line)]
    assert titles == ["Blocking (3):", "Advisory (1):", "Waived (1):"]
    blocking = section(text, "Blocking (3):")
    # One header per resource, most severe first, each finding under its resource.
    headers = [line.strip() for line in blocking if line.startswith("  ") and not line.startswith("    ")]
    assert headers == ["test:index:Bucket (logs)  app/__main__.py:12", "pulumi:pulumi:Stack (demo-dev)",
                       "test:index:Bucket (data)  app/storage/buckets.py:30"]
    items = [line.strip() for line in blocking if line.startswith("    - ")]
    assert items == ["- [mandatory] bucket-https-only  critical", "- [mandatory] stack-limit  high",
                     "- [mandatory] reads-unknown  medium"]
    assert section(text, "Waived (1):")[4].strip() == "waived until 2099-12-31 by team-data: Legacy reader needs HTTP"


def test_each_finding_shows_message_remediation_and_link(sample) -> None:
    lines = [line.strip() for line in section(format_result(sample), "Blocking (3):")]
    at = lines.index("- [mandatory] bucket-https-only  critical")
    assert lines[at + 1: at + 4] == ["bucket accepts HTTP | not only HTTPS", "remediation: Set httpsOnly to true.",
                                     "more: https://example.com/policies/bucket-https-only"]


def test_indeterminate_finding_says_it_could_not_decide(sample) -> None:
    lines = [line.strip() for line in section(format_result(sample), "Blocking (3):")]
    at = lines.index("- [mandatory] reads-unknown  medium")
    assert lines[at + 1] == "could not decide: a value it reads is unknown until deployment"


@pytest.mark.parametrize("builder", ["sample", "error", "empty"])
def test_verdict_line_counts_are_the_json_summary(builder, project_dir) -> None:
    result = getattr(report_data, f"{builder}_result")(project_dir)
    s = json.loads(formatter("json")(result))["summary"]
    last = format_result(result).splitlines()[-1]
    assert last.startswith({"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[s["verdict"]])
    assert (f"{s['blocking']} blocking, {s['advisory']} advisory, {s['indeterminate']} indeterminate, "
            f"{s['waived']} waived, ") in last
    assert f"; {s['resources']} resource" in last and f"(exit {s['exitCode']})" in last
    planned = next(line for line in format_result(result).splitlines() if line.endswith(" planned"))
    assert planned.split()[0] == str(s["resources"])  # the plan counts what the summary counts


def test_a_pack_that_failed_to_load_is_not_reported_as_none_given(project_dir) -> None:
    result = GateResult(project="demo", stack="dev", project_dir=str(project_dir),
                        resources=report_data.resources(),
                        errors=["policy pack exits exited with code 1 at start: broken pack"])
    for fmt in ("table", "json", "sarif", "junit", "markdown"):
        out = formatter(fmt)(result)
        assert "no policy pack was given" not in out.lower(), fmt
        assert "no policy pack was evaluated because the run stopped on an error" in out.lower(), fmt


def test_no_pack_given_still_says_so(empty) -> None:
    assert "\nNote: no policy pack was given: nothing was checked.\n" in format_result(empty)


def test_control_characters_from_a_pack_never_reach_the_terminal(sample) -> None:
    loud = dataclasses.replace(sample.findings[0], message="no owner tag \x1b[2J\x1b[31mred\rover")
    sample = dataclasses.replace(sample, findings=(loud, *sample.findings[1:]))
    text = format_result(sample, Style(color=True, width=100))
    assert "      no owner tag [2J[31mredover\n" in text


def test_errors_are_counted_in_the_verdict_not_repeated(errored) -> None:
    text = format_result(errored)
    assert "timed out evaluating policies" not in text and "RuntimeError" not in text
    assert text.splitlines()[-1] == (
        "ERROR (the gate could not complete its evaluation): 1 blocking, 0 advisory, 0 indeterminate, 0 waived, "
        "0 remediations, 2 errors (printed on stderr); 4 resources, 1 pack, 7 policies; 1.50s (exit 2)")


# -- warnings, in every format ----------------------------------------------------------------

def test_warnings_appear_in_every_format(sample) -> None:
    warning = report_data.WARNING
    assert json.loads(formatter("json")(sample))["warnings"] == [warning]
    sarif = json.loads(formatter("sarif")(sample))
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert {"level": "warning", "message": {"text": warning}} in notes
    junit = ET.fromstring(formatter("junit")(sample).encode("utf-8"))
    assert warning in junit.find("testsuite/system-out").text.splitlines()
    assert f"### Warnings\n\n- {warning}\n" in formatter("markdown")(sample)
    assert section(format_result(sample), "Warnings:") == [
        "Warnings:", "    - dynamic provider test:index:Hook runs no code offline; its outputs are unknown"]


def test_warnings_reach_junit_when_no_pack_ran(empty) -> None:
    empty = dataclasses.replace(empty, warnings=("secure config pw could not be decrypted",))
    junit = ET.fromstring(formatter("junit")(empty).encode("utf-8"))
    assert junit.find("testsuite/system-out").text == "warning: secure config pw could not be decrypted"


# -- terminal or not --------------------------------------------------------------------------

def test_plain_text_off_a_terminal_even_with_columns_set() -> None:
    assert terminal_style(FakeTerminal(tty=False), {"COLUMNS": "40", "TERM": "xterm"}) is PLAIN


def test_colour_and_width_on_a_terminal() -> None:
    assert terminal_style(FakeTerminal(tty=True), {"COLUMNS": "100", "TERM": "xterm"}) == Style(color=True, width=100)


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_and_dumb_terminals_get_no_colour(env) -> None:
    assert terminal_style(FakeTerminal(tty=True), {"COLUMNS": "90", **env}) == Style(color=False, width=90)


def test_width_falls_back_to_none_without_columns_or_terminal() -> None:
    assert terminal_width(FakeTerminal(tty=False), {}) is None
    assert terminal_width(FakeTerminal(tty=False), {"COLUMNS": "abc"}) is None


def test_colour_only_when_asked(sample) -> None:
    assert "\x1b[" not in format_result(sample)
    coloured = format_result(sample, Style(color=True, width=200))
    assert "\x1b[31m[mandatory]\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == format_result(sample, Style(width=200))


def test_findings_wrap_to_the_terminal_width(sample) -> None:
    sample = dataclasses.replace(sample, findings=(*sample.findings, Finding(
        kind=FindingKind.VIOLATION, pack=report_data.PACK, policy="bucket-owner-tag", level=Level.ADVISORY,
        severity=Severity.LOW, urn=report_data.DATA, type=report_data.TYPE, name="data",
        message="word " * 40, source=SourceLocation("storage/buckets.py", 30))))
    plain = format_result(sample)
    assert max(len(line) for line in plain.splitlines()) > 200  # off a terminal, nothing is wrapped
    narrow = format_result(sample, Style(width=50))
    too_wide = [line for line in narrow.splitlines()[:-1] if len(line) > 50 and len(line.split()) > 1]
    # Only the verdict stays one line, whatever its length.
    assert too_wide == []
    # The plan, too wide for 50 columns, lists each resource with its location, nothing cut off.
    plan = narrow.split("\n\n")[1].splitlines()
    assert plan[:4] == ["    pulumi:pulumi:Stack (demo-dev)", "    test:index:Bucket (logs)  app/__main__.py:12",
                        "    test:index:Bucket (data)", "        app/storage/buckets.py:30"]


# -- crossgate policies -----------------------------------------------------------------------

def test_policies_listing_fits_the_width_and_wraps_descriptions() -> None:
    pack = report_data.pack()
    for width in (80, 50):
        text = format_policies([pack], width)
        assert all(len(line) <= width for line in text.splitlines()), width
    assert "bucket-https-only  mandatory  critical  resource" in format_policies([pack], 80)


def test_policies_listing_of_the_real_pack_fits_80_columns_by_default() -> None:
    proc = run_crossgate("policies", "--policy-pack", PACK, env={**os.environ, "COLUMNS": ""})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("crossgate-azure@v")
    assert [line for line in lines if len(line) > 80] == []


@pytest.mark.parametrize("columns", [40, 60])
def test_policies_listing_respects_columns(columns: int) -> None:
    proc = run_crossgate("policies", "--policy-pack", PACK, env={**os.environ, "COLUMNS": str(columns)})
    assert proc.returncode == 0, proc.stderr
    # Every line fits: a type token or a reference longer than the width is broken (the listing has no URL).
    assert [line for line in proc.stdout.splitlines() if len(line) > columns] == []
    assert "storage-disable-public-network-access" in proc.stdout


def test_policies_json_has_every_field() -> None:
    proc = run_crossgate("policies", "--policy-pack", PACK, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (pack,) = json.loads(proc.stdout)["packs"]
    assert Path(pack["path"]) == (REPO / PACK).resolve()
    assert set(pack) == {"name", "version", "description", "path", "policies"}
    for policy in pack["policies"]:
        assert set(policy) == {"name", "description", "kind", "enforcementLevel", "defaultEnforcementLevel",
                               "severity", "displayName", "framework", "tags", "remediation", "url", "config",
                               "configSchema"}
        assert policy["remediation"] and policy["url"], policy["name"]


# -- real runs: golden files, errors once ---------------------------------------------------------

def normalise(text: str) -> str:
    return re.sub(r"; \d+\.\d\ds \(exit", "; X.XXs (exit", text)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"{name} is missing: run with CROSSGATE_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"table output differs from {name}; if intended, regenerate with CROSSGATE_UPDATE_GOLDEN=1 and review")


def preview(cwd: Path, *args: str):
    return run_crossgate("preview", "--cwd", str(cwd), "--stack", "dev", "--parallel", "1", *args,
                         env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")})


def test_sketch_table_matches_golden_and_agrees_with_json(tmp_path) -> None:
    doc_path = tmp_path / "sketch.json"
    proc = preview(FIXTURES / "sketch", "--policy-pack", PACK, "--json", str(doc_path))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    check_golden("sketch.table.txt", normalise(proc.stdout))
    s = json.loads(doc_path.read_text())["summary"]
    assert (f"FAIL: {s['blocking']} blocking, {s['advisory']} advisory, {s['indeterminate']} indeterminate, "
            f"{s['waived']} waived") in proc.stdout
    assert f"\n{s['resources']} resources planned\n" in proc.stdout
    assert f"\nBlocking ({s['blocking']}):\n" in proc.stdout


def test_reference_stack_table_matches_golden() -> None:
    proc = preview(REPO, "--policy-pack", PACK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    check_golden("reference.table.txt", normalise(proc.stdout))


BROKEN_PACK_ERROR = "policy pack exits exited with code 1 at start: broken pack: cannot load its policies"


def test_pack_that_fails_to_load_table_matches_golden_and_prints_its_error_once() -> None:
    proc = preview(FIXTURES / "programs" / "things", "--policy-pack", str(FIXTURES / "packs" / "exits"))
    assert proc.returncode == 2
    assert (proc.stdout + proc.stderr).count(BROKEN_PACK_ERROR) == 1
    assert proc.stderr.splitlines() == [f"crossgate: error: {BROKEN_PACK_ERROR}"]
    assert "no policy pack was given" not in proc.stdout
    assert "Note: no policy pack was evaluated because the run stopped on an error: nothing was checked." in proc.stdout
    check_golden("pack-fails.table.txt", normalise(proc.stdout))


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "markdown"])
def test_machine_formats_print_each_error_once_on_stderr(fmt) -> None:
    proc = preview(FIXTURES / "programs" / "things", "--policy-pack", str(FIXTURES / "packs" / "exits"),
                   "--format", fmt)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"crossgate: error: {BROKEN_PACK_ERROR}"]
    assert BROKEN_PACK_ERROR in proc.stdout  # the report itself carries it too, for the file it becomes
    assert "no policy pack was given" not in proc.stdout.lower()


def test_errors_on_stderr_carry_no_control_characters(errored, capsys) -> None:
    import argparse

    from crossgate import cli

    cli._report_errors(errored, argparse.Namespace(verbose=False, format="table"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "crossgate: error: policy pack demo-pack: timed out evaluating policies (raise --timeout)",
        "crossgate: error: evaluating urn:pulumi:dev::demo::test:index:Bucket::data: RuntimeError: <boom> & [31mred"]


def test_findings_of_a_pack_that_failed_later_are_attributed_to_it(errored) -> None:
    errored = dataclasses.replace(errored, packs=())  # the pack reported one finding, then failed
    text = format_result(errored)
    assert "Note:" not in text
    assert section(text, "Policies:") == [
        "Policies:", "    [incomplete] demo-pack@v?: failed, 1 blocking, 0 advisory, 0 waived"]
    assert "    - [mandatory] bucket-https-only  critical" in section(text, "Blocking (1):")


def run_on_a_terminal(env: dict[str, str]) -> tuple[int, str]:
    """``crossgate preview`` with stdout on a pseudo-terminal, as a user at a shell runs it."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    args = ["preview", "--cwd", str(FIXTURES / "programs" / "things"), "--stack", "dev", "--parallel", "1",
            "--policy-pack", str(FIXTURES / "packs" / "basic")]
    proc = subprocess.Popen([sys.executable, "-m", "crossgate", *args], cwd=REPO, stdout=slave,
                            stderr=subprocess.PIPE, env={**os.environ, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    proc.wait(timeout=300)
    return proc.returncode, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_terminal_the_table_is_coloured_and_fits_columns() -> None:
    code, out = run_on_a_terminal({"COLUMNS": "60", "NO_COLOR": "", "TERM": "xterm"})
    assert code == 1
    assert "\x1b[31m[mandatory]\x1b[0m" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()
    assert [line for line in plain[:-1] if len(line) > 60 and len(line.split()) > 1] == []


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_terminal_no_color_turns_colour_off() -> None:
    code, out = run_on_a_terminal({"COLUMNS": "60", "NO_COLOR": "1", "TERM": "xterm"})
    assert code == 1
    assert "\x1b[" not in out
    assert "[mandatory] no-public-flag  critical" in out


def test_waivers_applied_list_what_each_one_matched(sample) -> None:
    assert section(format_result(sample), "Waivers applied:") == [
        "Waivers applied:",
        "    - bucket-https-only on urn:pulumi:dev::demo::test:index:Bucket::archive* (owner team-data, expires "
        "2099-12-31) matched test:index:Bucket (archive)"]
