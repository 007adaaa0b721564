"""Paths and a CLI runner shared by the tests (importable as ``helpers``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def run_crossgate(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                  timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "crossgate", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
