"""JUnit XML: parseable, counts that add up, a failure only for what blocks the gate."""

from __future__ import annotations

import dataclasses

import xml.etree.ElementTree as ET

from crossgate.model import GateResult
from crossgate.report import formatter

from report_data import PACK, PACK_VERSION

junit_format = formatter("junit")


def parse(result: GateResult) -> ET.Element:
    text = junit_format(result)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def cases(root: ET.Element, suite: str) -> dict[str, ET.Element]:
    found = root.findall(f"testsuite[@name='{suite}']/testcase")
    named = {c.get("name"): c for c in found}
    assert len(named) == len(found), "test case names must be unique within a suite"
    return named


def assert_counts_consistent(root: ET.Element) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        testcases = suite.findall("testcase")
        counted = {"tests": len(testcases),
                   "failures": sum(len(c.findall("failure")) for c in testcases),
                   "errors": sum(len(c.findall("error")) for c in testcases),
                   "skipped": sum(len(c.findall("skipped")) for c in testcases)}
        assert {k: int(suite.get(k)) for k in counted} == counted, suite.get("name")
        for key, value in counted.items():
            totals[key] += value
    assert {k: int(root.get(k)) for k in totals} == totals


def test_root_and_suite(sample: GateResult) -> None:
    root = parse(sample)
    assert root.tag == "testsuites"
    assert root.get("name") == "crossgate"
    assert root.get("time") == "1.500"
    assert [s.get("name") for s in root.findall("testsuite")] == [f"{PACK}@{PACK_VERSION}"]
    assert_counts_consistent(root)


def test_failures_are_exactly_the_blocking_findings(sample: GateResult) -> None:
    root = parse(sample)
    failures = root.findall(".//failure")
    assert int(root.get("failures")) == len(failures) == len(sample.blocking) == 3
    by_name = cases(root, f"{PACK}@{PACK_VERSION}")
    https = by_name["bucket-https-only :: test:index:Bucket::logs"]
    assert https.get("classname") == f"{PACK}.bucket-https-only"
    assert (https.get("file"), https.get("line")) == ("app/__main__.py", "12")
    failure = https.find("failure")
    assert failure.get("type") == "mandatory"
    assert failure.get("message") == "bucket accepts HTTP | not only HTTPS"
    assert "Remediation: Set httpsOnly to true." in failure.text
    unknown = by_name["reads-unknown :: test:index:Bucket::data"].find("failure")
    assert unknown.get("type") == "indeterminate"
    assert unknown.get("message").startswith("Indeterminate: ")
    stack = by_name["stack-limit :: pulumi:pulumi:Stack::demo-dev"]
    assert (stack.get("file"), stack.get("line")) == ("app/Pulumi.yaml", "1")


def test_advisory_passes_with_output(sample: GateResult) -> None:
    case = cases(parse(sample), f"{PACK}@{PACK_VERSION}")["bucket-owner-tag :: test:index:Bucket::logs"]
    assert case.find("failure") is None and case.find("skipped") is None
    assert case.find("system-out").text.startswith("advisory: bucket has no owner tag")


def test_waived_is_skipped(sample: GateResult) -> None:
    case = cases(parse(sample), f"{PACK}@{PACK_VERSION}")["bucket-https-only :: test:index:Bucket::archive"]
    assert case.find("failure") is None
    assert case.find("skipped").get("message") == (
        "waived: Legacy reader needs HTTP (owner team-data, expires 2099-12-31)")


def test_quiet_and_disabled_policies_have_a_case(sample: GateResult) -> None:
    by_name = cases(parse(sample), f"{PACK}@{PACK_VERSION}")
    quiet = by_name["quiet-policy"]
    assert quiet.get("classname") == f"{PACK}.quiet-policy"
    assert list(quiet) == []  # passed
    assert by_name["legacy-check"].find("skipped").get("message") == "disabled"
    # Policies that did report something have no extra "passed" case.
    assert "bucket-https-only" not in by_name and "auto-labels" not in by_name
    assert by_name["auto-labels :: test:index:Bucket::logs (remediation)"].find("system-out").text.startswith(
        "remediation: would change labels")


def test_repeated_findings_get_distinct_names(sample: GateResult) -> None:
    first = sample.findings[1]
    sample = dataclasses.replace(sample, findings=(*sample.findings, dataclasses.replace(first, message="second")))
    root = parse(sample)
    names = [c.get("name") for c in root.iter("testcase")]
    assert len(names) == len(set(names))
    assert_counts_consistent(root)


def test_errors_get_their_own_suite(errored: GateResult) -> None:
    root = parse(errored)
    assert_counts_consistent(root)
    errors = cases(root, "crossgate")
    assert [c.find("error").get("message") for c in errors.values()] == [
        "policy pack demo-pack: timed out evaluating policies (raise --timeout)",
        "evaluating urn:pulumi:dev::demo::test:index:Bucket::data: RuntimeError: <boom> & [31mred",
    ]
    assert root.get("errors") == "2"
    assert root.get("failures") == "1"


def test_nothing_checked(empty: GateResult) -> None:
    root = parse(empty)
    assert_counts_consistent(root)
    (case,) = root.iter("testcase")
    assert case.find("skipped").get("message") == "No policy pack was given: nothing was checked."
