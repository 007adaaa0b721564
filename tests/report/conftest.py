"""Fixtures for the reporter tests: results built by hand in a throwaway git work tree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crossgate.model import GateResult

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # Appended, so the helper module never shadows an installed one.
    sys.path.append(str(HERE))

import report_data  # noqa: E402


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """``<tmp>/repo/app``: the Pulumi project one level below the repository root."""
    return report_data.make_repo(tmp_path)


@pytest.fixture
def sample(project_dir: Path) -> GateResult:
    return report_data.sample_result(project_dir)


@pytest.fixture
def errored(project_dir: Path) -> GateResult:
    return report_data.error_result(project_dir)


@pytest.fixture
def empty(project_dir: Path) -> GateResult:
    return report_data.empty_result(project_dir)
