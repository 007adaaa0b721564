"""``python -m bench.experiments``: try speed-ups of crossgate's program host without editing crossgate.

Each variant is a copy of ``crossgate/program/_host.py`` with a few lines inserted; the runner is
pointed at the copy (``crossgate.program.runner.HOST``) and ``crossgate preview`` runs with no pack,
as (b) does. Prints the median wall time and peak RSS per variant, so a change can be judged before
it is made in crossgate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from . import measure
from .generate import STACK, generate

HOST = Path(__file__).resolve().parent.parent / "crossgate" / "program" / "_host.py"
AFTER_IMPORTS = "    from pulumi.runtime.stack import run_in_stack\n"
AFTER_LOOP = "    asyncio.set_event_loop(loop)\n"

NO_STACK_TRACE = """
    # The SDK walks the whole stack with traceback.extract_stack() (linecache, a stat() per frame)
    # for every resource; crossgate finds the declaring frame itself.
    import pulumi.runtime.resource as _sdk_resource
    from pulumi.runtime.proto import source_pb2 as _source_pb2
    _EMPTY_TRACE = _source_pb2.StackTrace()
    _sdk_resource._get_stack_trace = lambda: _EMPTY_TRACE
"""

INLINE_EXECUTOR = """
    # The SDK sends every monitor call through loop.run_in_executor; the mock monitor is quick
    # and thread-safe, so run it inline instead of handing it to a thread and back.
    import concurrent.futures as _cf

    class _InlineExecutor(_cf.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future = _cf.Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)
            return future

    loop.set_default_executor(_InlineExecutor(max_workers=1))
"""

GC_FREEZE = """
    # Move everything imported so far out of the collector's sight, and collect less often.
    import gc as _gc
    _gc.collect()
    _gc.freeze()
    _gc.set_threshold(50_000, 20, 100)
"""

GC_OFF = """
    import gc as _gc
    _gc.disable()
"""

VARIANTS = {
    "baseline": ("", ""),
    "no-stack-trace": (NO_STACK_TRACE, ""),
    "inline-executor": ("", INLINE_EXECUTOR),
    "gc-freeze": (GC_FREEZE, ""),
    "gc-off": (GC_OFF, ""),
    "all (no-stack-trace + inline + gc-freeze)": (NO_STACK_TRACE + GC_FREEZE, INLINE_EXECUTOR),
}

DRIVER = """
import sys
from pathlib import Path
import crossgate.program.runner as runner
runner.HOST = Path(sys.argv[1])
from crossgate.cli import main
sys.exit(main(sys.argv[2:]))
"""


def host_variant(directory: Path, name: str, before: str, after_loop: str) -> Path:
    text = HOST.read_text(encoding="utf-8")
    if AFTER_IMPORTS not in text or AFTER_LOOP not in text:
        raise SystemExit(f"{HOST} changed: cannot find where to insert the experiment's code")
    text = text.replace(AFTER_IMPORTS, AFTER_IMPORTS + before, 1).replace(AFTER_LOOP, AFTER_LOOP + after_loop, 1)
    # The host imports its sibling modules (_host_*.py) and their data from its own directory.
    for helper in [*HOST.parent.glob("_host_*.py"), HOST.parent / "output_shapes.json"]:
        if not (directory / helper.name).exists():
            shutil.copy(helper, directory / helper.name)
    path = directory / f"host_{len(list(directory.glob('host_*.py')))}.py"
    path.write_text(f"# experiment: {name}\n" + text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--json", dest="json_file", help="also write the results here")
    args = p.parse_args(argv)
    chosen = [v.strip() for v in args.variants.split(",")] if args.variants else list(VARIANTS)
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants: {unknown}")
    work = Path(tempfile.mkdtemp(prefix="crossgate-experiments-"))
    try:
        return _run(args, chosen, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, chosen: list[str], work: Path) -> int:
    program, layout = generate(args.size, work / "programs")
    hosts = {name: host_variant(work, name, *VARIANTS[name]) for name in chosen}
    samples: dict[str, list[measure.Sample]] = {name: [] for name in chosen}
    for run in range(args.runs):
        for name in chosen:  # interleaved, so drift in the machine's load hits every variant alike
            cmd = [sys.executable, "-c", DRIVER, str(hosts[name]), "preview", "--cwd", str(program),
                   "--stack", STACK, "--format", "json", "--timeout", "3600"]
            sample = measure.run(cmd, cwd=program, out_dir=work / "logs", label=f"run{run}-variant{chosen.index(name)}")
            ok = sample.rc == 0 and len(json.loads(Path(sample.stdout).read_text())["resources"]) == layout.resources
            if not ok:
                print(f"{name}: FAILED (exit {sample.rc}): {measure.tail(sample.stderr, 800)}", file=sys.stderr)
                return 1
            samples[name].append(sample)
            print(f"  {name:<44} run {run + 1}/{args.runs}: {sample.wall:6.2f} s  "
                  f"peak {sample.maxrss_kb / 1024:5.0f} MB", file=sys.stderr, flush=True)
    base = statistics.median(s.wall for s in samples[chosen[0]])
    print(f"runner (b) with host variants, N={args.size} ({layout.resources} resources), median of {args.runs}")
    print(f"{'variant':<44} {'median s':>9} {'vs ' + chosen[0]:>14} {'ms/res':>7} {'peak MB':>8} {'cpu s':>7}")
    results = {}
    for name in chosen:
        med = statistics.median(s.wall for s in samples[name])
        peak = max(s.maxrss_kb for s in samples[name]) / 1024
        cpu = statistics.median(s.cpu for s in samples[name])
        results[name] = {"median_s": med, "peak_rss_mb": peak, "cpu_s": cpu, "walls": [s.wall for s in samples[name]]}
        print(f"{name:<44} {med:>9.2f} {med / base:>13.2f}x {med / layout.resources * 1000:>7.2f} {peak:>8.0f} {cpu:>7.2f}")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps({"size": args.size, "resources": layout.resources,
                                                    "variants": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
