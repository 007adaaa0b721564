"""Shared fixtures: the repository's paths and the reference stack's plan, computed once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def run_crossgate(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                  timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "crossgate", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def reference_plan() -> dict:
    """``crossgate preview --cwd . --stack dev --format json`` on the reference program in infra/."""
    proc = run_crossgate("preview", "--cwd", str(REPO), "--stack", "dev", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
