"""Shared fixtures: the reference stack's plan, computed once per session."""

from __future__ import annotations

import json

import pytest

from helpers import REPO, run_crossgate


@pytest.fixture(scope="session")
def reference_plan() -> dict:
    """``crossgate preview --cwd . --stack dev --format json`` on the reference program in infra/."""
    proc = run_crossgate("preview", "--cwd", str(REPO), "--stack", "dev", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
