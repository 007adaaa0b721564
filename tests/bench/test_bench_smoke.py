"""`make bench` keeps working: a tiny run produces the table's rows. (Figures are not asserted: speed
is judged by the benchmark's own printed targets, not by timed tests.)"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO


def test_bench_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--skip-stock", "--skip-reference",
                           "--sizes", "100", "--runs", "1", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "full gate N=1,000 <= 5 s" in proc.stdout
    doc = json.loads(out.read_text())
    for mode in ("runner", "gate"):
        sample = doc["measurements"][mode]["100"]
        assert sample["resources"] == 100
        assert sample["median_s"] > 0
    assert [t["target"] for t in doc["targets"]][2] == "full gate N=1,000 <= 5 s"
