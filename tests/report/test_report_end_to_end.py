"""The real pipeline: a pack evaluated over the Analyzer protocol, then every reporter."""

from __future__ import annotations

import dataclasses

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from crossgate import wire
from crossgate.report import formatter
from crossgate.testing import Resource, evaluate

import report_data

BASIC = Path(__file__).resolve().parents[1] / "fixtures" / "packs" / "basic"
THING = "test:index:Thing"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    result = evaluate(str(BASIC), [
        Resource(THING, "public", {"public": True, "tags": {}}),
        Resource(THING, "noted", {"note": "x", "tags": {}}),
        Resource(THING, "unknown", {"target": wire.UNKNOWN, "tags": {}}),
        Resource(THING, "untagged", {}),
        Resource(THING, "secret", {"password": wire.make_secret(report_data.SECRET), "tags": {}}),
    ])
    # As `crossgate preview` would report it for a project in app/ below the repository root.
    result = dataclasses.replace(result, project_dir=str(report_data.make_repo(tmp_path_factory.mktemp("e2e"))))
    assert not result.errors, result.errors
    return result


def test_sarif(evaluated) -> None:
    doc = json.loads(formatter("sarif")(evaluated))
    if report_data.SARIF_SCHEMA.exists():
        jsonschema.Draft4Validator(report_data.load_schema()).validate(doc)
    (run,) = doc["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == sorted(p.name for p in evaluated.packs[0].policies)
    assert len(rules) == 9  # the whole catalogue, not only what fired
    got = sorted((r["ruleId"], r["level"], r["properties"]["kind"]) for r in run["results"])
    assert got == [
        ("advisory-note", "warning", "violation"),
        ("no-public-flag", "error", "violation"),
        ("reads-unknown", "error", "indeterminate"),
        ("secret-value", "error", "violation"),
        ("stack-checks", "error", "violation"),
        ("tag-things", "note", "remediation"),
    ]
    # testing.evaluate() records no source lines: everything points at the project file.
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"app/Pulumi.yaml"}
    assert run["invocations"][0]["executionSuccessful"] is True


def test_junit(evaluated) -> None:
    root = ET.fromstring(formatter("junit")(evaluated).encode("utf-8"))
    assert int(root.get("failures")) == len(evaluated.blocking) == 4
    assert int(root.get("tests")) == len(list(root.iter("testcase")))


def test_markdown(evaluated) -> None:
    md = formatter("markdown")(evaluated)
    assert md.startswith("## crossgate: FAIL \u2014 4 blocking findings\n")
    assert "| critical, blocking | `no-public-flag` | `test:index:Thing::public` | thing is public |" in md


@pytest.mark.parametrize("fmt", ["sarif", "junit", "markdown"])
def test_no_secret(evaluated, fmt: str) -> None:
    assert any(f.policy == "secret-value" for f in evaluated.violations)  # the pack saw the value
    assert report_data.SECRET not in formatter(fmt)(evaluated)
