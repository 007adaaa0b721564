"""Golden files: each reporter's whole output for each fixture, byte for byte.

Regenerate after an intended change with ``CROSSGATE_UPDATE_GOLDEN=1 pytest tests/report`` and
review the diff like any other change.
"""

from __future__ import annotations

import dataclasses

import os
from pathlib import Path

import pytest

from crossgate.report import formatter
from crossgate.report._common import Locator

import report_data

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CROSSGATE_UPDATE_GOLDEN") == "1"
BUILDERS = {"sample": report_data.sample_result, "error": report_data.error_result,
            "empty": report_data.empty_result}
SUFFIXES = {"sarif": ".sarif.json", "junit": ".junit.xml", "markdown": ".md", "table": ".table.txt"}


def normalise(output: str, project_dir: Path) -> str:
    """The one machine-specific value (the repository root's file URI) becomes a placeholder."""
    root_uri = Locator(report_data.empty_result(project_dir)).root_uri
    return output.replace(root_uri, "file:///REPO/")


@pytest.mark.parametrize("fmt", sorted(SUFFIXES))
@pytest.mark.parametrize("fixture", sorted(BUILDERS))
def test_matches_golden(fixture: str, fmt: str, project_dir: Path) -> None:
    output = normalise(formatter(fmt)(BUILDERS[fixture](project_dir)), project_dir)
    path = GOLDEN / f"{fixture}{SUFFIXES[fmt]}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path.name} is missing: run with CROSSGATE_UPDATE_GOLDEN=1 to create it"
    assert output == path.read_text(encoding="utf-8"), (
        f"{fmt} output for {fixture!r} differs from {path.name}; if intended, regenerate with "
        "CROSSGATE_UPDATE_GOLDEN=1 and review the diff")


@pytest.mark.parametrize("fmt", sorted(SUFFIXES))
def test_output_is_deterministic(fmt: str, project_dir: Path) -> None:
    """Finding order from a concurrent engine must not change the report."""
    first = report_data.sample_result(project_dir)
    second = report_data.sample_result(project_dir)
    second = dataclasses.replace(second, findings=second.findings[::-1])
    assert formatter(fmt)(first) == formatter(fmt)(second)
