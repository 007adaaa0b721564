"""SARIF 2.1.0: schema-valid, the whole rule catalogue, repository-relative locations, stable fingerprints."""

from __future__ import annotations

import dataclasses

import json
from pathlib import Path

import jsonschema
import pytest

from crossgate import __version__
from crossgate.model import GateResult, Severity
from crossgate.report import formatter
from crossgate.report._common import fingerprint, repo_root

import report_data
from report_data import ARCHIVE, DATA, LOGS, PACK, ROOT_URN

sarif_format = formatter("sarif")


def sarif(result: GateResult) -> dict:
    return json.loads(sarif_format(result))


def assert_valid(doc: dict) -> None:
    if not report_data.SARIF_SCHEMA.exists():
        pytest.skip(f"SARIF schema not found at {report_data.SARIF_SCHEMA}")
    validator = jsonschema.Draft4Validator(report_data.load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def results_by(doc: dict, urn: str, rule: str) -> list[dict]:
    return [r for r in doc["runs"][0]["results"] if r["properties"]["urn"] == urn and r["ruleId"] == rule]


def one(doc: dict, urn: str, rule: str) -> dict:
    found = results_by(doc, urn, rule)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("name", ["sample", "errored", "empty"])
def test_valid_against_the_schema(name: str, request: pytest.FixtureRequest) -> None:
    assert_valid(sarif(request.getfixturevalue(name)))


def test_one_run_per_pack_with_unique_category(sample: GateResult) -> None:
    other = report_data.pack()
    sample = dataclasses.replace(sample, packs=[
        *sample.packs, type(other)(name="other-pack", version="0.1.0", path="", policies=other.policies[:1])])
    doc = sarif(sample)
    assert [r["tool"]["extensions"][0]["name"] for r in doc["runs"]] == [PACK, "other-pack"]
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == ["crossgate/demo-pack/dev/",
                                                                 "crossgate/other-pack/dev/"]
    assert doc["runs"][1]["results"] == []
    assert_valid(doc)


def test_driver_names_crossgate_and_the_pack(sample: GateResult) -> None:
    tool = sarif(sample)["runs"][0]["tool"]
    assert tool["driver"]["name"] == "crossgate"
    assert tool["driver"]["semanticVersion"] == __version__
    assert tool["driver"]["properties"] == {"pack": PACK, "packVersion": "1.2.0"}
    assert tool["extensions"] == [{"name": PACK, "version": "1.2.0",
                                   "shortDescription": {"text": "Demonstration policies."}}]


def test_rules_are_the_whole_catalogue(sample: GateResult) -> None:
    rules = sarif(sample)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [p.name for p in report_data.policies()]
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in rules}
    assert levels == {"auto-labels": "error", "bucket-https-only": "error", "bucket-owner-tag": "warning",
                      "legacy-check": "none", "quiet-policy": "error", "reads-unknown": "error",
                      "stack-limit": "error"}
    disabled = next(r for r in rules if r["id"] == "legacy-check")
    assert disabled["defaultConfiguration"] == {"level": "none", "enabled": False}


def test_rule_metadata_comes_from_the_pack(sample: GateResult) -> None:
    rules = {r["id"]: r for r in sarif(sample)["runs"][0]["tool"]["driver"]["rules"]}
    https = rules["bucket-https-only"]
    assert https["name"] == "Bucket HTTPS only"
    assert https["shortDescription"] == {"text": "Buckets accept HTTPS only."}
    assert https["help"]["text"] == "Set httpsOnly to true."
    assert "Set httpsOnly to true." in https["help"]["markdown"]
    assert https["helpUri"] == "https://example.com/policies/bucket-https-only"
    assert https["properties"]["tags"] == ["storage", "encryption", "CIS Microsoft Azure Foundations 3.0.0 4.17"]
    assert "helpUri" not in rules["quiet-policy"]


def test_security_severity_scores(sample: GateResult) -> None:
    rules = {r["id"]: r for r in sarif(sample)["runs"][0]["tool"]["driver"]["rules"]}
    scores = {rid: r["properties"].get("security-severity") for rid, r in rules.items()}
    assert scores == {"auto-labels": "3.0", "bucket-https-only": "9.5", "bucket-owner-tag": "3.0",
                      "legacy-check": "5.5", "quiet-policy": "5.5", "reads-unknown": "5.5", "stack-limit": "8.0"}
    assert all(isinstance(s, str) for s in scores.values())


def test_unspecified_severity_has_no_score(sample: GateResult) -> None:
    pack = sample.packs[0]
    policies = tuple(type(p)(**{**p.__dict__, "severity": Severity.UNSPECIFIED}) if p.name == "quiet-policy"
                     else p for p in pack.policies)
    sample = dataclasses.replace(sample, packs=[dataclasses.replace(pack, policies=policies), *sample.packs[1:]])
    rules = {r["id"]: r for r in sarif(sample)["runs"][0]["tool"]["driver"]["rules"]}
    assert "security-severity" not in rules["quiet-policy"]["properties"]


def test_results_cover_each_reported_kind(sample: GateResult) -> None:
    results = sarif(sample)["runs"][0]["results"]
    kinds = sorted((r["ruleId"], r["properties"]["kind"], r["level"]) for r in results)
    assert kinds == [
        ("auto-labels", "remediation", "note"),
        ("bucket-https-only", "violation", "error"),  # the waived one keeps its level
        ("bucket-https-only", "violation", "error"),
        ("bucket-owner-tag", "violation", "warning"),
        ("reads-unknown", "indeterminate", "error"),
        ("stack-limit", "violation", "error"),
    ]  # the not-applicable outcome of quiet-policy is not a result
    rules = [r["id"] for r in sarif(sample)["runs"][0]["tool"]["driver"]["rules"]]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in results)


def test_blocking_finding_location_is_relative_to_the_repository(sample: GateResult) -> None:
    result = one(sarif(sample), LOGS, "bucket-https-only")
    assert result["level"] == "error"
    assert result["message"] == {"text": "bucket accepts HTTP | not only HTTPS"}
    location = result["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "app/__main__.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    assert location["logicalLocations"] == [{"fullyQualifiedName": LOGS, "kind": "resource", "name": "logs"}]
    assert result["properties"] == {"pack": PACK, "enforcementLevel": "mandatory", "severity": "critical",
                                    "urn": LOGS, "resourceType": "test:index:Bucket", "kind": "violation",
                                    "blocking": True}


def test_src_root_is_the_repository_root(sample: GateResult, project_dir: Path) -> None:
    run = sarif(sample)["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project_dir.parent.as_uri() + "/"
    assert repo_root(str(project_dir)) == str(project_dir.parent)


def test_without_git_the_project_dir_is_the_root(tmp_path: Path) -> None:
    project = tmp_path / "loose"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: demo\n", encoding="utf-8")
    doc = sarif(report_data.sample_result(project))
    uri = one(doc, LOGS, "bucket-https-only")["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    # tmp_path may itself sit in a git work tree; then the path is relative to that.
    expected = Path(repo_root(str(project)))
    assert uri == (project / "__main__.py").relative_to(expected).as_posix()


def test_stack_finding_falls_back_to_pulumi_yaml(sample: GateResult) -> None:
    result = one(sarif(sample), ROOT_URN, "stack-limit")
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "app/Pulumi.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1},
    }


def test_indeterminate_is_prefixed_and_blocks(sample: GateResult) -> None:
    result = one(sarif(sample), DATA, "reads-unknown")
    assert result["message"]["text"].startswith("Indeterminate: can't run policy 'reads-unknown'")
    assert result["level"] == "error"


def test_advisory_indeterminate_is_a_warning(sample: GateResult) -> None:
    from crossgate.model import Level

    sample = dataclasses.replace(sample, findings=[
        f if f.policy != "reads-unknown" else dataclasses.replace(f, level=Level.ADVISORY) for f in sample.findings])
    assert one(sarif(sample), DATA, "reads-unknown")["level"] == "warning"


def test_waived_finding_is_suppressed(sample: GateResult) -> None:
    result = one(sarif(sample), ARCHIVE, "bucket-https-only")
    assert result["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "Legacy reader needs HTTP (owner team-data, expires 2099-12-31)",
    }]
    assert result["level"] == "error"
    assert result["properties"]["blocking"] is False
    assert all("suppressions" not in r for r in sarif(sample)["runs"][0]["results"]
               if r["properties"]["urn"] != ARCHIVE)


def test_fingerprint_ignores_message_and_line(project_dir: Path) -> None:
    before = one(sarif(report_data.sample_result(project_dir)), LOGS, "bucket-https-only")
    after = one(sarif(report_data.sample_result(project_dir, https_message="now worded differently",
                                                https_line=99)), LOGS, "bucket-https-only")
    assert before["locations"][0]["physicalLocation"]["region"]["startLine"] == 12
    assert after["locations"][0]["physicalLocation"]["region"]["startLine"] == 99
    assert before["partialFingerprints"] == after["partialFingerprints"] == {
        "crossgate/v1": fingerprint(PACK, "bucket-https-only", LOGS)}
    assert len(before["partialFingerprints"]["crossgate/v1"]) == 32


def test_fingerprints_are_unique_within_a_run(sample: GateResult) -> None:
    # A second finding of one policy on one resource must not merge with the first.
    first = sample.findings[1]
    sample = dataclasses.replace(sample, findings=(*sample.findings, dataclasses.replace(first, message="and also this")))
    results = sarif(sample)["runs"][0]["results"]
    prints = [r["partialFingerprints"]["crossgate/v1"] for r in results]
    assert len(prints) == len(set(prints)) == 7
    assert [r["partialFingerprints"]["crossgate/v1"] for r in results_by(sarif(sample), LOGS, "bucket-https-only")][0] \
        == fingerprint(PACK, "bucket-https-only", LOGS)


def test_error_run_is_not_successful(errored: GateResult) -> None:
    doc = sarif(errored)
    assert len(doc["runs"]) == 1
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 2
    assert [n["level"] for n in invocation["toolExecutionNotifications"]] == ["error", "error"]
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == (
        "policy pack demo-pack: timed out evaluating policies (raise --timeout)")
    # What came in before the failure is still reported.
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["bucket-https-only"]


def test_successful_run_invocation(sample: GateResult) -> None:
    invocation = sarif(sample)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["exitCode"] == 1
    # The run's warnings are execution notifications; no error is.
    assert invocation["toolExecutionNotifications"] == [
        {"level": "warning", "message": {"text": report_data.WARNING}}]
    texts = [n["message"]["text"] for n in invocation["toolConfigurationNotifications"]]
    assert any("expired on 2020-01-31" in t for t in texts)
    assert any("matched nothing" in t for t in texts)


def test_no_pack_is_one_empty_run_with_a_note(empty: GateResult) -> None:
    doc = sarif(empty)
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "crossgate"
    assert run["tool"]["driver"]["rules"] == []
    assert run["results"] == []
    assert run["automationDetails"]["id"] == "crossgate/dev/"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes == [{"level": "note", "message": {"text": "No policy pack was given: nothing was checked."}}]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_findings_of_an_unlisted_policy_still_resolve(sample: GateResult) -> None:
    sample = dataclasses.replace(sample, findings=(*sample.findings, dataclasses.replace(sample.findings[0],
                                                                                       policy="surprise")))
    doc = sarif(sample)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    result = one(doc, LOGS, "surprise")
    assert rules[result["ruleIndex"]]["id"] == "surprise"
    assert_valid(doc)


def test_file_outside_the_repository_gets_an_absolute_uri(sample: GateResult, project_dir: Path) -> None:
    from crossgate.model import SourceLocation

    moved = dataclasses.replace(sample.findings[1], source=SourceLocation("../../elsewhere.py", 3))
    sample = dataclasses.replace(sample, findings=(sample.findings[0], moved, *sample.findings[2:]))
    doc = sarif(sample)
    artifact = one(doc, LOGS, "bucket-https-only")["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": (project_dir.parent.parent / "elsewhere.py").as_uri()}
    assert_valid(doc)
