"""``python -m bench``: how fast crossgate registers and gates programs, against the SDK's mocks.

Measures, side by side, on generated azure-native programs of about N resources:

(a) the SDK's stock mocks (``pulumi.runtime.set_mocks``) registering the program;
(b) crossgate's runner alone (``crossgate preview`` with no pack);
(c) the full gate with the project's pack (and, with ``--stock-servicer``, the same gate with its
    packs served by pulumi-policy's own servicer, ``python -m pulumi.policy``, as the CLI runs them);
(d) the reference stack end to end against its floor (the same imports, nothing run);
(e) Checkov (the optional extra ``bench``, which ``make bench`` installs into ``.venv/checkov``) scanning the same plan
    exported as an ARM template (``checkov -f <template> --framework arm``), in the same runs.

Every measurement is a fresh process tree, timed in a wrapper that also reports the peak RSS of the
largest process. Prints a table and the targets, and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from . import arm, floor, measure, report
from .generate import STACK, generate, layout_for, stack_config

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
STOCK_DRIVER = Path(__file__).resolve().with_name("stock_driver.py")
#: Above this many resources the stock mocks (~20 ms/resource) run once, or are extrapolated.
STOCK_LARGE = 2000
DEFAULT_SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", help="comma-separated program sizes in resources (default 100,1000,10000)")
    p.add_argument("--runs", type=int, help="runs per measurement; the median is reported (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: sizes 100,1000 and 1 run (unless --sizes/--runs say otherwise)")
    p.add_argument("--skip-stock", action="store_true", help="don't run the SDK's stock mocks (a)")
    p.add_argument("--skip-reference", action="store_true", help="don't measure the reference stack (d)")
    p.add_argument("--skip-checkov", action="store_true",
                   help="don't run Checkov (e); its target rows then read FAIL (not measured)")
    p.add_argument("--stock-servicer", action="store_true",
                   help="also run (c) with packs served by pulumi-policy's own servicer, for comparison")
    p.add_argument("--stock-large", choices=("once", "extrapolate"), default="once",
                   help=f"stock mocks above {STOCK_LARGE} resources: measure once (default) or extrapolate "
                        "from the marginal cost between the smaller sizes")
    p.add_argument("--pack", help="policy pack for (c) and (d) (default: policies/, or the basic test "
                                  "fixture while policies/ has no PulumiPolicy.yaml)")
    p.add_argument("--parallel", type=int, help="crossgate --parallel (processes per pack; default: cores)")
    p.add_argument("--json", dest="json_file", default=str(RESULTS / "latest.json"),
                   help="where to write the JSON results (default bench/results/latest.json)")
    p.add_argument("--workdir", help="where to generate programs and keep outputs (default: a temp dir, "
                                     "removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with programs and outputs")
    args = p.parse_args(argv)
    if args.sizes:
        try:
            args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
        except ValueError:
            p.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
        if not args.sizes or min(args.sizes) < 20:
            p.error("--sizes: each size must be at least 20")
    else:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


#: ``crossgate`` with the per-call pack timeout (60 s, not a CLI option) raised to ``--timeout``: used
#: only to learn how long a gate that hit that timeout would have taken.
UNCAPPED_DRIVER = """
import sys
import crossgate.engine as engine
_init = engine.Gate.__init__
def _uncapped(self, options, identity):
    options.call_timeout = max(options.call_timeout, options.timeout)
    _init(self, options, identity)
engine.Gate.__init__ = _uncapped
from crossgate.cli import main
sys.exit(main(sys.argv[1:]))
"""


#: ``crossgate`` with its packs launched as the Pulumi CLI launches them (``python -m pulumi.policy``,
#: pulumi-policy's own servicer) instead of crossgate's pack host: the comparison row (c').
STOCK_SERVICER_DRIVER = """
import sys
import crossgate.packs.process as process
process.DEFAULT_HOST = "stock"
from crossgate.cli import main
sys.exit(main(sys.argv[1:]))
"""
#: The Checkov the issue compares against: the pin of the optional extra ``bench`` in pyproject.toml.
CHECKOV_VERSION = next(iter(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
                            ["project"]["optional-dependencies"]["bench"])).split("==")[-1]


def find_checkov() -> str | None:
    """Checkov from its own virtualenv beside this interpreter's (``make bench`` makes it), or this one's."""
    here = Path(sys.executable).parent
    for candidate in (here.parent / "checkov" / "bin" / "checkov", here / "checkov"):
        if candidate.exists():
            return str(candidate)
    return None


class MeasurementError(RuntimeError):
    """A run that did not produce a valid result; ``sample`` still has its wall time."""

    def __init__(self, message: str, sample: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.sample = sample


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def choose_pack(explicit: str | None) -> tuple[Path, str]:
    if explicit:
        return Path(explicit).resolve(), ""
    project_pack = REPO / "policies"
    if (project_pack / "PulumiPolicy.yaml").exists():
        return project_pack, ""
    return (REPO / "tests" / "fixtures" / "packs" / "basic",
            "policies/PulumiPolicy.yaml does not exist yet: FELL BACK to tests/fixtures/packs/basic")


def crossgate_command() -> list[str]:
    script = Path(sys.executable).with_name("crossgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "crossgate"]


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.crossgate = crossgate_command()
        self.pack, self.pack_note = choose_pack(args.pack)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
        self.counter = 0
        self.documents: dict[int, dict[str, Any]] = {}
        self.checkov = find_checkov()
        self.results: dict[str, Any] = {
            "meta": {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cores": os.cpu_count(),
                "runs": args.runs,
                "sizes": args.sizes,
                "commit": git_commit(),
                "pack": str(self.pack.relative_to(REPO) if self.pack.is_relative_to(REPO) else self.pack),
                "pack_note": self.pack_note,
                "parallel": args.parallel,
                "stock_large": ("skipped" if args.skip_stock else
                                f"measured once above {STOCK_LARGE} resources" if args.stock_large == "once"
                                else f"extrapolated above {STOCK_LARGE} resources from the marginal cost"),
                "crossgate": " ".join(self.crossgate),
            },
            "programs": {},
            "measurements": {mode: {} for mode in report.MODES},
            "derived": {},
        }

    # -- commands -----------------------------------------------------------------------------

    def preview_cmd(self, cwd: Path, stack: str, pack: Path | None) -> list[str]:
        cmd = [*self.crossgate, "preview", "--cwd", str(cwd), "--stack", stack, "--format", "json",
               "--timeout", "3600"]
        if pack is not None:
            cmd += ["--policy-pack", str(pack)]
        if self.args.parallel is not None:
            cmd += ["--parallel", str(self.args.parallel)]
        return cmd

    def _run(self, cmd: list[str], cwd: Path, label: str, env: dict[str, str] | None = None) -> measure.Sample:
        self.counter += 1
        return measure.run(cmd, cwd=cwd, out_dir=self.logs, label=f"{self.counter:03d}-{label}",
                           env=env or self.env, timeout=4000)

    def _preview_sample(self, cmd: list[str], cwd: Path, label: str, expected: int | None,
                        allowed_rc: tuple[int, ...]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        sample = self._run(cmd, cwd, label)
        entry = sample.to_json()
        try:
            doc = json.loads(Path(sample.stdout).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            doc = None
            if sample.rc in allowed_rc:
                raise MeasurementError(f"no JSON on stdout ({exc}): {measure.tail(sample.stderr, 600)}",
                                       entry) from None
        if doc is not None and doc.get("errors"):
            raise MeasurementError(f"exit code {sample.rc}, crossgate reported errors: {doc['errors'][:3]}", entry)
        if sample.rc not in allowed_rc:
            raise MeasurementError(f"exit code {sample.rc}: {measure.tail(sample.stderr, 600).strip()}", entry)
        assert doc is not None
        count = len(doc.get("resources") or [])
        if expected is not None and count != expected:
            raise MeasurementError(f"expected {expected} resources in the JSON, found {count}", entry)
        return entry | {"resources_seen": count}, doc

    # -- measurements -------------------------------------------------------------------------

    def measure_reference(self) -> None:
        runs = self.args.runs
        samples, document, error = [], None, None
        log(f"(d) reference stack: crossgate preview --cwd {REPO} --stack dev --policy-pack {self.pack}")
        for i in range(runs):
            try:
                sample, doc = self._preview_sample(self.preview_cmd(REPO, "dev", self.pack), REPO,
                                                   "reference-gate", None, (0, 1))
            except MeasurementError as exc:
                error = str(exc)
                break
            document = document or doc
            samples.append(sample)
            log(f"    run {i + 1}/{runs}: {sample['wall']:.2f} s, rc {sample['rc']}, "
                f"peak {sample['maxrss_kb'] / 1024:.0f} MB")
        m = self.results["measurements"]
        if error:
            log(f"    FAILED: {error}")
            m["reference_gate"] = {"error": error}
            return
        assert document is not None
        m["reference_gate"] = report.summarise(samples, len(document["resources"]))
        m["reference_gate"]["summary"] = document.get("summary")
        modules = floor.touched(document)
        self.results["floor_modules"] = modules
        code = floor.code(modules)
        (self.workdir / "floor.py").write_text(code, encoding="utf-8")
        log(f"(d) floor: {len(modules)} azure-native modules + pulumi, pulumi_policy, grpc")
        samples = []
        for i in range(runs):
            sample = self._run([sys.executable, "-c", code], REPO, "floor")
            if sample.rc != 0:
                m["floor"] = {"error": f"exit code {sample.rc}: {measure.tail(sample.stderr, 600)}"}
                log(f"    FAILED: {m['floor']['error']}")
                return
            samples.append(sample.to_json())
            log(f"    run {i + 1}/{runs}: {sample.wall:.2f} s")
        m["floor"] = report.summarise(samples, 0)
        m["floor"]["resources"] = None
        m["floor"]["ms_per_resource"] = None

    def measure_size(self, size: int, program: Path, resources: int, runs: int, modes: list[str]) -> None:
        samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        errors: dict[str, str] = {}
        failed_samples: dict[str, dict[str, Any]] = {}
        summaries: dict[str, Any] = {}
        config = stack_config(program)
        stock_env = self.env | {
            "PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": "[]",
            "PULUMI_PROJECT": f"crossgate-bench-{size}", "PULUMI_STACK": STACK, "PULUMI_DRY_RUN": "true"}
        for i in range(runs):
            for mode in modes:
                if mode in errors:
                    continue
                try:
                    if mode == "stock":
                        sample = self._run([sys.executable, str(STOCK_DRIVER), str(program)], program,
                                           f"stock-{size}", env=stock_env)
                        if sample.rc != 0:
                            raise MeasurementError(f"exit code {sample.rc}: {measure.tail(sample.stderr, 600)}",
                                                   sample.to_json())
                        lines = Path(sample.stdout).read_text(encoding="utf-8").strip().splitlines()
                        seen = json.loads(lines[-1])
                        # The mocks see neither the root stack nor the default provider.
                        if seen["resources"] != resources - 2:
                            raise MeasurementError(f"the mocks saw {seen['resources']} resources, expected "
                                                   f"{resources - 2}", sample.to_json())
                        entry = sample.to_json() | {"driver": seen}
                    elif mode == "checkov":
                        entry = self.measure_checkov(size)
                    else:
                        pack = None if mode == "runner" else self.pack
                        cmd = self.preview_cmd(program, STACK, pack)
                        if mode == "gate_stock":
                            cmd = [sys.executable, "-c", STOCK_SERVICER_DRIVER, *cmd[len(self.crossgate):]]
                        entry, doc = self._preview_sample(cmd, program, f"{mode}-{size}", resources,
                                                          (0,) if mode == "runner" else (0, 1))
                        if doc is not None:
                            self.documents.setdefault(size, doc)
                        if doc is not None and mode != "runner":
                            summaries[mode] = doc.get("summary")
                except (MeasurementError, subprocess.TimeoutExpired) as exc:
                    errors[mode] = str(exc)
                    if isinstance(exc, MeasurementError) and exc.sample:
                        failed_samples[mode] = exc.sample
                    wall = f" after {exc.sample['wall']:.2f} s" if getattr(exc, "sample", None) else ""
                    log(f"  {report.MODES[mode]} N={size}: FAILED{wall}: {exc}")
                    continue
                samples[mode].append(entry)
                log(f"  {report.MODES[mode]:<32} N={size:<6} run {i + 1}/{runs}: {entry['wall']:7.2f} s  "
                    f"peak {entry['maxrss_kb'] / 1024:5.0f} MB")
        for mode in modes:
            slot = self.results["measurements"][mode]
            if mode in errors:
                slot[str(size)] = {"error": errors[mode], "resources": resources,
                                   "failed_sample": failed_samples.get(mode)}
                if mode == "gate" and "timed out" in errors[mode]:
                    slot[str(size)]["uncapped"] = self.measure_uncapped(program, size, resources)
            else:
                slot[str(size)] = report.summarise(samples[mode], resources)
                if mode in summaries:
                    slot[str(size)]["summary"] = summaries[mode]

    def measure_checkov(self, size: int) -> dict[str, Any]:
        """One timed Checkov scan of the size's plan as an ARM template; fails unless it really scanned."""
        if self.checkov is None:
            raise MeasurementError("Checkov is not installed: not measured (`make bench` installs the extra 'bench', "
                                   f"checkov=={CHECKOV_VERSION}, into .venv/checkov)")
        document = self.documents.get(size)
        if document is None:
            raise MeasurementError("no plan to export: (b) and (c) failed, so Checkov was not measured")
        template = self.workdir / f"arm-{size}.json"
        if not template.exists():
            self.results["programs"][str(size)]["arm_resources"] = arm.write(document, template)
        # No network: the scan must not wait on Prisma Cloud's guideline download.
        env = self.env | {"BC_SKIP_MAPPING": "TRUE", "CKV_NO_OUTPUT_COLOR": "1"}
        sample = self._run([self.checkov, "-f", str(template), "--framework", "arm", "--quiet", "--compact",
                            "-o", "json", "--soft-fail", "--skip-download"], self.workdir, f"checkov-{size}", env=env)
        try:
            doc = json.loads(Path(sample.stdout).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MeasurementError(f"Checkov exit code {sample.rc}, no JSON report ({exc}): "
                                   f"{measure.tail(sample.stderr, 400)}", sample.to_json()) from None
        doc = doc[0] if isinstance(doc, list) and doc else doc
        doc = doc if isinstance(doc, dict) else {}
        summary = doc.get("summary") or {}
        if sample.rc != 0 or doc.get("check_type") != "arm" or not summary.get("resource_count") \
                or summary.get("parsing_errors"):
            raise MeasurementError(f"Checkov did not scan the template (exit code {sample.rc}, summary {summary})",
                                   sample.to_json())
        version = summary.get("checkov_version")
        self.results["meta"]["checkov"] = version
        if version != CHECKOV_VERSION:
            raise MeasurementError(f"Checkov {version} ran, not the pinned {CHECKOV_VERSION}", sample.to_json())
        return sample.to_json() | {"checkov_summary": summary}

    def measure_uncapped(self, program: Path, size: int, resources: int) -> dict[str, Any]:
        """One more run of a gate that hit the 60 s per-call timeout, with that timeout raised."""
        cmd = [sys.executable, "-c", UNCAPPED_DRIVER, *self.preview_cmd(program, STACK, self.pack)[len(self.crossgate):]]
        log(f"  (c) N={size} hit a per-call timeout: once more with the call timeout raised to --timeout")
        try:
            entry, _ = self._preview_sample(cmd, program, f"gate-uncapped-{size}", resources, (0, 1))
        except (MeasurementError, subprocess.TimeoutExpired) as exc:
            log(f"    FAILED again: {exc}")
            return {"error": str(exc), "failed_sample": getattr(exc, "sample", None)}
        log(f"    {entry['wall']:.2f} s  peak {entry['maxrss_kb'] / 1024:.0f} MB")
        return entry

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        programs: dict[int, tuple[Path, int]] = {}
        for size in args.sizes:
            program, layout = generate(size, self.workdir / "programs")
            programs[size] = (program, layout.resources)
            self.results["programs"][str(size)] = {"resources": layout.resources, "units": layout.units,
                                                   "zones": layout.zones, "dir": str(program)}
        log(f"programs in {self.workdir / 'programs'}: " + ", ".join(
            f"N={s} -> {r} resources" for s, (_, r) in programs.items()))
        if self.pack_note:
            log(f"NOTE: {self.pack_note}")
        if not args.skip_reference:
            self.measure_reference()
        large_stock: list[int] = []
        for size, (program, resources) in programs.items():
            modes = ["runner", "gate"] + (["gate_stock"] if args.stock_servicer else []) + (
                [] if args.skip_checkov else ["checkov"])
            if not args.skip_stock:
                if resources <= STOCK_LARGE:
                    modes.insert(0, "stock")
                else:
                    large_stock.append(size)
            log(f"N={size} ({resources} resources), {args.runs} run(s) of {', '.join(modes)}")
            self.measure_size(size, program, resources, args.runs, modes)
        stock = self.results["measurements"]["stock"]
        for size in large_stock:
            program, resources = programs[size]
            if args.stock_large == "once":
                log(f"N={size}: stock mocks, measured once (~{resources * 0.021 / 60:.0f} min expected)")
                self.measure_size(size, program, resources, 1, ["stock"])
            else:
                estimate = report.extrapolate(stock, size, resources)
                if estimate is not None:
                    stock[str(size)] = estimate
        self.derive()
        self.results["targets"] = report.targets(self.results)
        self.results["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return self.results

    def derive(self) -> None:
        m, d = self.results["measurements"], self.results["derived"]
        d["marginal_ms"] = {mode: report.slopes(m[mode]) for mode in report.MODES}
        d["gate_over_checkov"] = {
            size: m["gate"][size]["median_s"] / m["checkov"][size]["median_s"]
            for size in m["gate"] if size in m["checkov"]
            and not m["gate"][size].get("error") and not m["checkov"][size].get("error")}
        d["stock_over_runner"] = {
            size: m["stock"][size]["median_s"] / m["runner"][size]["median_s"]
            for size in m["stock"] if size in m["runner"]
            and not m["stock"][size].get("error") and not m["runner"][size].get("error")}
        d["marginal_stock_over_runner"] = {
            key: d["marginal_ms"]["stock"][key] / d["marginal_ms"]["runner"][key]
            for key in d["marginal_ms"]["stock"] if key in d["marginal_ms"]["runner"]
            and d["marginal_ms"]["runner"][key] > 0}
        d["gate_minus_runner_s"] = {
            size: m["gate"][size]["median_s"] - m["runner"][size]["median_s"]
            for size in m["gate"] if size in m["runner"]
            and not m["gate"][size].get("error") and not m["runner"][size].get("error")}
        ref, fl = m.get("reference_gate"), m.get("floor")
        if ref and fl and not ref.get("error") and not fl.get("error"):
            d["reference_gate_over_floor"] = ref["median_s"] / fl["median_s"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        workdir = Path(tempfile.mkdtemp(prefix="crossgate-bench-"))
        keep = args.keep
    started = time.monotonic()
    try:
        results = Bench(args, workdir).run()
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"programs and outputs kept in {workdir}")
    results["meta"]["duration_s"] = time.monotonic() - started
    text = report.table(results)
    sys.stdout.write(text)
    out = Path(args.json_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"JSON: {out}  ({results['meta']['duration_s']:.0f} s in all)")
    m = results["measurements"]
    failed = [f"{mode} N={size}" for mode in report.MODES for size, v in m[mode].items() if v.get("error")]
    failed += [key for key in ("reference_gate", "floor") if (m.get(key) or {}).get("error")]
    if failed:
        print(f"FAILED measurements: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
