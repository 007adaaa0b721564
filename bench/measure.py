"""Timing one command in a wrapper process that also reports the peak RSS of its largest process.

``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the high-water mark of the largest descendant that has
been waited for, so it must be read in a process that runs nothing but the measured command: a
small ``python -c`` wrapper per measurement. crossgate waits for its program host and (after
SIGKILL) its pack processes, so they are all covered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

WRAPPER = r"""
import json, resource, subprocess, sys, time
spec = json.loads(sys.stdin.read())
with open(spec["stdout"], "wb") as out, open(spec["stderr"], "wb") as err:
    started = time.perf_counter()
    proc = subprocess.run(spec["cmd"], cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "rc": proc.returncode, "maxrss_kb": usage.ru_maxrss,
                  "cpu": usage.ru_utime + usage.ru_stime}))
"""


@dataclass
class Sample:
    wall: float  # seconds, the command alone (not the wrapper's start-up)
    rc: int
    maxrss_kb: int  # largest process among the command and its descendants
    cpu: float  # user + system seconds of the command and its descendants
    stdout: str  # path of the captured stdout
    stderr: str

    def to_json(self) -> dict:
        return asdict(self)


def run(cmd: Sequence[str], *, cwd: str | os.PathLike[str], out_dir: Path, label: str,
        env: dict[str, str] | None = None, timeout: float | None = None) -> Sample:
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{label}.out", out_dir / f"{label}.err"
    spec = {"cmd": list(cmd), "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr)}
    done = subprocess.run([sys.executable, "-c", WRAPPER], input=json.dumps(spec), capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement wrapper failed for {label}: {done.stderr.strip()[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(wall=data["wall"], rc=data["rc"], maxrss_kb=data["maxrss_kb"], cpu=data["cpu"],
                  stdout=str(stdout), stderr=str(stderr))


def tail(path: str, limit: int = 1500) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""
