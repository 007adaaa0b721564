"""``python -m bench.profiling``: where the time goes in (b) and (c), every process and thread.

Generates a program of ``--size`` resources whose ``Pulumi.yaml`` names a stand-in virtualenv
whose ``bin/python`` runs ``_profwrap.py``, copies the pack with the same stand-in, and runs
``crossgate preview`` itself under ``_profwrap.py``. So crossgate, its program host and its pack
processes are all profiled, each thread included, without changing crossgate. Prints the top
hot spots of each process (self time, and cumulative for the main thread) and keeps the ``.prof``
files (open them with ``python -m pstats FILE`` or snakeviz).
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .__main__ import RESULTS, choose_pack, log
from .generate import STACK, generate

WRAPPER = Path(__file__).resolve().with_name("_profwrap.py")


def fake_venv(root: Path) -> Path:
    """A directory that looks like a virtualenv whose python is the profiling wrapper."""
    venv = root / "profvenv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -u "{WRAPPER}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return venv


def profiled_pack(pack: Path, root: Path, venv: Path) -> Path:
    copy = root / "pack"
    shutil.copytree(pack, copy, ignore=shutil.ignore_patterns("__pycache__", ".venv", "venv", "*.egg-info"))
    manifest = copy / "PulumiPolicy.yaml"
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    runtime = doc.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    options = dict(runtime.get("options") or {}) if isinstance(runtime, dict) else {}
    options["virtualenv"] = str(venv)
    doc["runtime"] = {"name": name, "options": options}
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return copy


def top(path: Path, sort: str, limit: int) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    text = buffer.getvalue()
    # Keep the header line with the totals and the table itself.
    lines = [line for line in text.splitlines() if line.strip()]
    keep = [line for line in lines if "function calls" in line]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), None)
    if start is not None:
        keep += lines[start:]
    return "\n".join(keep)


def run_case(name: str, cmd: list[str], cwd: Path, out_dir: Path, limit: int, rss_only: bool = False,
             uncap: bool = False) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
    env["CROSSGATE_BENCH_PROFILE_DIR"] = str(out_dir)
    if rss_only:
        env["CROSSGATE_BENCH_RSS_ONLY"] = "1"
    if uncap:
        env["CROSSGATE_BENCH_UNCAP_CALL_TIMEOUT"] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-u", str(WRAPPER), *cmd], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    how = "with per-process RSS recording" if rss_only else "under the profiler"
    sections = [f"===== {name}: {wall:.2f} s wall {how} (exit {done.returncode}) ====="]
    if done.returncode not in (0, 1):
        sections.append(done.stderr[-2000:])
    time.sleep(0.2)
    rss = {path.stem: int(path.read_text().strip() or 0) for path in out_dir.glob("*.rss")}
    if rss:
        caveat = "" if rss_only else " (under the profiler, which adds its own tables)"
        sections.append(f"peak RSS per process{caveat}: " + ", ".join(
            f"{role} {kb / 1024:.0f} MB" for role, kb in sorted(rss.items(), key=lambda kv: -kv[1])))
    for path in sorted(out_dir.glob("*.prof")):
        role = path.stem
        sections.append(f"\n--- {role}: top {limit} by self time (tottime) ---")
        sections.append(top(path, "tottime", limit))
        if role.endswith("-main"):
            sections.append(f"\n--- {role}: top {limit} by cumulative time ---")
            sections.append(top(path, "cumulative", limit))
    return "\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=1000, help="program size in resources (default 1000)")
    p.add_argument("--out", help="directory for .prof files and the report (default bench/results/profile-N)")
    p.add_argument("--pack", help="policy pack for (c) (default as python -m bench)")
    p.add_argument("--limit", type=int, default=15, help="rows per table (default 15)")
    p.add_argument("--only", choices=("runner", "gate"), help="profile only (b) or (c)")
    p.add_argument("--uncap-call-timeout", action="store_true",
                   help="raise crossgate's 60 s per-call pack timeout to --timeout (a slow AnalyzeStack "
                        "under the profiler would otherwise fail and go unrecorded)")
    p.add_argument("--rss-only", action="store_true",
                   help="no profiler: record only the peak RSS of each process (crossgate, host, packs)")
    args = p.parse_args(argv)
    default = RESULTS / (f"rss-{args.size}" if args.rss_only else f"profile-{args.size}")
    out = Path(args.out or default).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="crossgate-profile-"))
    try:
        venv = fake_venv(work)
        program, layout = generate(args.size, work / "programs", virtualenv=str(venv))
        pack, note = choose_pack(args.pack)
        if note:
            log(f"NOTE: {note}")
        pack_copy = profiled_pack(pack, work, venv)
        crossgate = ["-m", "crossgate", "preview", "--cwd", str(program), "--stack", STACK, "--format", "json",
                     "--timeout", "3600"]
        report = [f"profile of N={args.size} ({layout.resources} resources); pack {pack}" + (f" [{note}]" if note else "")]
        if args.only in (None, "runner"):
            log("profiling (b) crossgate runner, no pack ...")
            report.append(run_case("(b) runner", crossgate, work, out / "runner", args.limit, args.rss_only,
                                   args.uncap_call_timeout))
        if args.only in (None, "gate"):
            log("profiling (c) full gate ...")
            report.append(run_case("(c) gate", [*crossgate, "--policy-pack", str(pack_copy)], work, out / "gate",
                                   args.limit, args.rss_only, args.uncap_call_timeout))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(report)
    (out / "report.txt").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    print(f"\n.prof files and report.txt in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
