"""Derived numbers, targets and the printed table."""

from __future__ import annotations

import statistics
from typing import Any

MODES = {
    "stock": "(a) SDK stock mocks",
    "runner": "(b) crossgate runner, no pack",
    "gate": "(c) crossgate full gate",
    "gate_stock": "(c') gate, stock servicer",
    "checkov": "(e) Checkov, same plan as ARM",
}
#: The issue's targets (issue 14), in the order the table prints them.
REFERENCE_OVER_FLOOR = 1.2
MARGINAL_RATIO = 10
GATE_1K_S = 4
GATE_10K_S = 30
SCALING = 10.5
PEAK_MB = 800
GB_KB = 1024 * 1024


def summarise(samples: list[dict[str, Any]], resources: int) -> dict[str, Any]:
    walls = [s["wall"] for s in samples]
    median = statistics.median(walls)
    return {
        "resources": resources,
        "runs": len(samples),
        "median_s": median,
        "min_s": min(walls),
        "max_s": max(walls),
        "ms_per_resource": median / resources * 1000 if resources else None,
        "peak_rss_mb": max(s["maxrss_kb"] for s in samples) / 1024,
        "cpu_s": statistics.median(s["cpu"] for s in samples),
        "extrapolated": False,
        "samples": samples,
    }


def slopes(by_size: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Marginal ms per extra resource between consecutive sizes: ``{"100-1000": 1.23, ...}``."""
    by_size = {k: v for k, v in by_size.items() if not v.get("error")}
    sizes = sorted(by_size, key=int)
    out = {}
    for low, high in zip(sizes, sizes[1:]):
        a, b = by_size[low], by_size[high]
        if b["resources"] != a["resources"]:
            out[f"{low}-{high}"] = (b["median_s"] - a["median_s"]) / (b["resources"] - a["resources"]) * 1000
    return out


def extrapolate(by_size: dict[str, dict[str, Any]], size: int, resources: int) -> dict[str, Any] | None:
    """Stock time at ``size`` from the marginal cost between the two largest measured sizes."""
    measured = sorted((s for s, v in by_size.items() if not v.get("error") and not v["extrapolated"]), key=int)
    if not measured:
        return None
    top = by_size[measured[-1]]
    if len(measured) >= 2:
        low = by_size[measured[-2]]
        per = (top["median_s"] - low["median_s"]) / (top["resources"] - low["resources"])
        how = f"t({measured[-1]}) + marginal({measured[-2]}-{measured[-1]}) x {resources - top['resources']}"
    else:
        per = top["median_s"] / top["resources"]
        how = f"t({measured[-1]}) scaled by resource count"
    return {"resources": resources, "runs": 0, "median_s": top["median_s"] + per * (resources - top["resources"]),
            "min_s": None, "max_s": None,
            "ms_per_resource": (top["median_s"] + per * (resources - top["resources"])) / resources * 1000,
            "peak_rss_mb": None, "cpu_s": None, "extrapolated": True, "extrapolation": how, "samples": []}


def _fmt(value: Any, spec: str = ".2f", empty: str = "-") -> str:
    if value is None:
        return empty
    return format(value, spec)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of issue 14's table, PASS/FAIL; a row that could not be measured is FAIL, never a pass."""
    m = results["measurements"]
    out: list[dict[str, Any]] = []

    def add(name: str, value: str, holds: bool | None, note: str = "") -> None:
        out.append({"target": name, "value": value, "holds": bool(holds), "note": note})

    name = f"reference stack gate <= {REFERENCE_OVER_FLOOR}x floor"
    ref, floor = m.get("reference_gate"), m.get("floor")
    if ref and floor and not ref.get("error") and not floor.get("error"):
        ratio = ref["median_s"] / floor["median_s"]
        add(name, f"{ref['median_s']:.2f} s / {floor['median_s']:.2f} s = {ratio:.2f}x", ratio <= REFERENCE_OVER_FLOOR)
    else:
        add(name, "not measured", None)

    name = f"marginal registration cost (b) >= {MARGINAL_RATIO}x below stock (a)"
    stock_slopes = results["derived"].get("marginal_ms", {}).get("stock", {})
    runner_slopes = results["derived"].get("marginal_ms", {}).get("runner", {})
    common = [k for k in runner_slopes if k in stock_slopes]
    if common:
        key = max(common, key=lambda k: int(k.split("-")[1]))
        a, b = stock_slopes[key], runner_slopes[key]
        ratio = a / b if b > 0 else float("inf")
        add(name, f"{a:.2f} vs {b:.3f} ms/resource ({key}) = {ratio:.1f}x", ratio >= MARGINAL_RATIO,
            "stock at the larger size extrapolated" if m["stock"].get(str(key.split("-")[1]), {}).get("extrapolated")
            else "")
    else:
        add(name, "not measured (needs two sizes of (a) and (b))", None)

    gate = m.get("gate", {})

    def gate_time(size: str) -> tuple[float | None, str]:
        v = gate.get(size)
        if v is None:
            return None, "not measured"
        if not v.get("error"):
            return v["median_s"], f"{v['median_s']:.2f} s (cpu {v['cpu_s']:.2f} s)"
        uncapped = v.get("uncapped") or {}
        failed = v.get("failed_sample") or {}
        text = f"FAILED ({v['error'][:90]})"
        if failed.get("wall") is not None:
            text += f" after {failed['wall']:.2f} s"
        if uncapped and not uncapped.get("error"):
            return uncapped["wall"], text + f"; {uncapped['wall']:.2f} s with the per-call timeout raised"
        return None, text

    t1k, text1k = gate_time("1000")
    t10k, text10k = gate_time("10000")
    failed1k = bool((gate.get("1000") or {}).get("error"))
    failed10k = bool((gate.get("10000") or {}).get("error"))
    add(f"full gate N=1,000 <= {GATE_1K_S} s", text1k, not failed1k and t1k is not None and t1k <= GATE_1K_S)
    add(f"full gate N=10,000 <= {GATE_10K_S} s", text10k,
        not failed10k and t10k is not None and t10k <= GATE_10K_S)
    name = f"full gate t(10,000)/t(1,000) <= {SCALING}"
    if t1k is not None and t10k is not None:
        ratio = t10k / t1k
        add(name, f"{ratio:.2f}", ratio <= SCALING,
            "uses the run with the per-call timeout raised" if failed1k or failed10k else "")
    else:
        add(name, "not measured", None)
    peaks = []
    for mode in ("runner", "gate"):
        v = m.get(mode, {}).get("10000")
        if not v:
            continue
        if not v.get("error"):
            peaks.append(v["peak_rss_mb"])
        for extra in (v.get("failed_sample"), v.get("uncapped")):
            if extra and extra.get("maxrss_kb"):
                peaks.append(extra["maxrss_kb"] / 1024)
    name = f"peak RSS of the largest process at N=10,000 <= {PEAK_MB} MB"
    if peaks:
        peak = max(peaks)
        add(name, f"{peak:.0f} MB", peak <= PEAK_MB, "largest over (b) and (c), failed runs included")
    else:
        add(name, "not measured", None)
    checkov = m.get("checkov", {})
    for size, label in (("1000", "1,000"), ("10000", "10,000")):
        name = f"full gate faster than Checkov at N={label}"
        g, c = gate.get(size), checkov.get(size)
        if not g or g.get("error"):
            add(name, "not measured (the gate failed or did not run)", None)
        elif not c or c.get("error"):
            add(name, "not measured: " + ((c or {}).get("error") or "Checkov did not run")[:160], None)
        else:
            add(name, f"{g['ms_per_resource']:.2f} vs {c['ms_per_resource']:.2f} ms/resource "
                      f"({g['median_s']:.2f} s vs {c['median_s']:.2f} s; cpu {g['cpu_s']:.2f} s vs {c['cpu_s']:.2f} s; "
                      f"Checkov peak {c['peak_rss_mb']:.0f} MB)", g["median_s"] < c["median_s"])
    return out


def table(results: dict[str, Any]) -> str:
    m = results["measurements"]
    meta = results["meta"]
    lines = []
    lines.append(f"crossgate benchmark  {meta['started']}  python {meta['python']}  cores {meta['cores']}  "
                 f"runs {meta['runs']}  commit {meta['commit']}")
    lines.append(f"pack for (c)/(d): {meta['pack']}" + (f"  [{meta['pack_note']}]" if meta.get("pack_note") else ""))
    lines.append(f"stock mocks at large N: {meta['stock_large']}")
    lines.append("")
    head = f"{'mode':<32} {'N':>6} {'res':>6} {'median s':>9} {'min s':>7} {'max s':>7} {'ms/res':>7} " \
           f"{'marginal':>9} {'peak RSS':>9} {'cpu s':>7} {'runs':>4}"
    lines.append(head)
    lines.append(f"{'':<32} {'':>6} {'':>6} {'':>9} {'':>7} {'':>7} {'':>7} {'ms/res':>9} {'MB':>9}")
    lines.append("-" * len(head))
    marg = results["derived"].get("marginal_ms", {})
    for mode, label in MODES.items():
        by_size = m.get(mode) or {}
        sizes = sorted(by_size, key=int)
        prev = None
        for size in sizes:
            v = by_size[size]
            if v.get("error"):
                failed = v.get("failed_sample") or {}
                after = f" after {failed['wall']:.2f} s" if failed.get("wall") is not None else ""
                lines.append(f"{label:<32} {size:>6} {v['resources']:>6} FAILED{after}: {v['error'][:160]}")
                uncapped = v.get("uncapped")
                if uncapped and not uncapped.get("error"):
                    lines.append(f"{'  same, per-call timeout raised':<32} {size:>6} {v['resources']:>6} "
                                 f"{uncapped['wall']:>9.2f} {'':>7} {'':>7} "
                                 f"{uncapped['wall'] / v['resources'] * 1000:>7.2f} {'':>9} "
                                 f"{uncapped['maxrss_kb'] / 1024:>9.0f} {uncapped['cpu']:>7.2f} {1:>4}")
                elif uncapped:
                    lines.append(f"{'  same, per-call timeout raised':<32} {size:>6} FAILED: {uncapped['error'][:160]}")
                prev = None
                continue
            slope = marg.get(mode, {}).get(f"{prev}-{size}") if prev else None
            runs = "extr" if v["extrapolated"] else str(v["runs"])
            lines.append(f"{label:<32} {size:>6} {v['resources']:>6} {v['median_s']:>9.2f} "
                         f"{_fmt(v['min_s']):>7} {_fmt(v['max_s']):>7} {v['ms_per_resource']:>7.2f} "
                         f"{_fmt(slope, '.3f'):>9} {_fmt(v['peak_rss_mb'], '.0f'):>9} {_fmt(v['cpu_s']):>7} {runs:>4}")
            prev = size
    for key, label in (("reference_gate", "(d) reference stack gate"), ("floor", "(d) floor (imports only)")):
        v = m.get(key)
        if not v:
            continue
        if v.get("error"):
            lines.append(f"{label:<32} {'dev':>6} FAILED: {v['error']}")
            continue
        lines.append(f"{label:<32} {'dev':>6} {v['resources'] or '-':>6} {v['median_s']:>9.2f} {v['min_s']:>7.2f} "
                     f"{v['max_s']:>7.2f} {'':>7} {'':>9} {v['peak_rss_mb']:>9.0f} {v['cpu_s']:>7.2f} {v['runs']:>4}")
    ref, fl = m.get("reference_gate"), m.get("floor")
    if ref and fl and not ref.get("error") and not fl.get("error"):
        lines.append("")
        lines.append(f"(d) gate/floor: wall {ref['median_s'] / fl['median_s']:.2f}x, CPU "
                     f"{ref['cpu_s'] / fl['cpu_s']:.2f}x (the floor is one process importing serially; the "
                     f"gate's host and pack processes import in parallel)")
    ratios = results["derived"].get("stock_over_runner", {})
    if ratios:
        lines.append("")
        lines.append("(a)/(b) wall-time ratio: " + ", ".join(
            f"N={size}: {r:.1f}x" for size, r in sorted(ratios.items(), key=lambda kv: int(kv[0]))))
    mratios = results["derived"].get("marginal_stock_over_runner", {})
    if mratios:
        lines.append("(a)/(b) marginal-cost ratio: " + ", ".join(f"{k}: {r:.1f}x" for k, r in mratios.items()))
    gate_over_runner = results["derived"].get("gate_minus_runner_s", {})
    if gate_over_runner:
        lines.append("(c)-(b), policy evaluation on top of registration: " + ", ".join(
            f"N={size}: {d:+.2f} s" for size, d in sorted(gate_over_runner.items(), key=lambda kv: int(kv[0]))))
    vs_checkov = results["derived"].get("gate_over_checkov", {})
    if vs_checkov:
        lines.append("(c)/(e), the gate's time over Checkov's on the same plan: " + ", ".join(
            f"N={size}: {r:.2f}x" for size, r in sorted(vs_checkov.items(), key=lambda kv: int(kv[0]))))
    fast_stock = {size: m["gate_stock"][size]["median_s"] / v["median_s"] for size, v in (m.get("gate") or {}).items()
                  if not v.get("error") and size in (m.get("gate_stock") or {})
                  and not m["gate_stock"][size].get("error")}
    if fast_stock:
        lines.append("(c')/(c), pulumi-policy's servicer over crossgate's pack host: " + ", ".join(
            f"N={size}: {r:.2f}x" for size, r in sorted(fast_stock.items(), key=lambda kv: int(kv[0]))))
    for mode in MODES:
        for size, v in sorted((m.get(mode) or {}).items(), key=lambda kv: int(kv[0])):
            if v.get("extrapolated"):
                lines.append(f"{MODES[mode]} N={size} is EXTRAPOLATED: {v['extrapolation']}")
            elif mode == "stock" and v.get("runs") == 1 and results["meta"]["runs"] > 1:
                lines.append(f"{MODES[mode]} N={size} was measured once (not {results['meta']['runs']} times)")
    if results.get("floor_modules"):
        mods = results["floor_modules"]
        lines.append(f"floor imports: pulumi, pulumi_policy, grpc + {len(mods)} azure-native modules "
                     f"({sum(len(v) for v in mods.values())} classes/functions)")
    lines.append("")
    lines.append("targets:")
    for t in results["targets"]:
        mark = "PASS" if t["holds"] else "FAIL"
        note = f"  ({t['note']})" if t.get("note") else ""
        lines.append(f"  [{mark}] {t['target']}: {t['value']}{note}")
    return "\n".join(lines) + "\n"
