"""The scaling suite: every policy on tuned-on and held-out generated traces, at several pod starts.

    python -m bench.scaling --suite [--pod-starts 10,30,60]

The predictive pool's constants (time scales, burst memory, significance, default coverage)
were chosen on the TUNED set. The HELD_OUT set uses other seeds of those kinds plus a kind the
tuning never saw (flash-crowd), so its figures are not a fit to their own test. Both are
reported separately, side by side in one run, with the physical limit of every trace.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from typing import Any

from switchboard.api.common import parse_duration
from switchboard.api.voiceagent import Scaling
from switchboard.scaling import ScalingParams

from bench import common
from bench.scaling import SHIPPED, TRACES, load_trace, predictive_of, simulate, targets
from bench.traces.generate import KINDS

Trace = list[tuple[float, float]]
TUNED: tuple[tuple[str, int], ...] = (
    *((kind, 0) for kind in SHIPPED),  # seed 0: the shipped CSV
    *((kind, seed) for kind in ("campaign", "business-day") for seed in (1, 2, 3)),
)
HELD_OUT: tuple[tuple[str, int], ...] = tuple(
    (kind, seed)
    for kind in ("steady", "bursty", "campaign", "business-day", "flash-crowd")
    for seed in (101, 102, 103)
)
POD_STARTS = [10.0, 30.0, 60.0]
ROW = "{:<20} {:<13} {:>6} {:>9} {:>9} {:>10} {:>8}"


def trace_of(kind: str, seed: int) -> tuple[str, Trace]:
    if seed == 0:
        return kind, load_trace(TRACES / f"{kind}.csv")
    return f"{kind}-s{seed}", KINDS[kind](seed)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The predictive pool's worst case over a set of traces, and how many meet each target."""
    pred = [r["policies"]["predictive"] for r in rows]
    return {
        "traces": len(rows),
        "cold_pct_max": max(p["cold_pct"] for p in pred),
        "cold_pct_median": statistics.median(p["cold_pct"] for p in pred),
        "vs_hpa_max": max(r["targets"]["predictive_worker_seconds_vs_hpa"] for r in rows),
        "vs_hpa_median": statistics.median(
            r["targets"]["predictive_worker_seconds_vs_hpa"] for r in rows
        ),
        "vs_limit_median": statistics.median(p["limit_ratio"] for p in pred),
        "pods_per_call_max": max(p["pods_per_call"] for p in pred),
        "meet_cold": sum(r["targets"]["predictive_cold_pct_le_0_5"] for r in rows),
        "meet_worker_seconds": sum(
            r["targets"]["predictive_worker_seconds_le_0_8_hpa"] for r in rows
        ),
        "meet_pods_per_call": sum(r["targets"]["predictive_pods_per_call_le_1"] for r in rows),
    }


def run(args: argparse.Namespace) -> int:
    delay = parse_duration(args.scale_down_delay or Scaling().scale_down_delay).total_seconds()
    base = ScalingParams(
        calls_per_worker=args.calls_per_worker,
        warm_workers=args.warm,
        min_workers=args.min_workers,
        max_workers=args.max_workers,
        scale_down_delay_s=delay,
    )
    warm = predictive_of(args)
    starts = [float(x) for x in args.pod_starts.split(",")] if args.pod_starts else POD_STARTS
    report: dict[str, Any] = {"predictive": vars(warm), "warm_workers": base.warm_workers}
    for pod_start in starts:
        params = dataclasses.replace(base, pod_start_s=pod_start)
        for set_name, members in (("tuned", TUNED), ("held-out", HELD_OUT)):
            print(f"\n== {set_name} traces, pod start {pod_start:g} s ==")
            print(
                ROW.format("trace", "policy", "cold%", "ws/call-s", "vs limit", "vs hpa", "pods/c")
            )
            rows = []
            for kind, seed in members:
                name, trace = trace_of(kind, seed)
                runs = simulate(
                    trace,
                    params,
                    pod_start,
                    args.react_s,
                    args.hpa_target,
                    args.buffer,
                    args.seed,
                    warm,
                )
                by = {m["policy"]: m for m, _ in runs}
                hpa_ws = by["hpa-like"]["worker_seconds_per_call_second"]
                for m in by.values():
                    ws = m["worker_seconds_per_call_second"]
                    print(
                        ROW.format(
                            name,
                            m["policy"],
                            f"{m['cold_pct']:.2f}",
                            f"{ws:.3f}",
                            f"{m['limit_ratio']:.3f}",
                            f"{ws / hpa_ws:.2f}",
                            f"{m['pods_per_call']:.2f}",
                        )
                    )
                rows.append(
                    {
                        "trace": name,
                        "calls": len(trace),
                        "policies": by,
                        "targets": targets(list(by.values())),
                    }
                )
            total = summary(rows)
            print(f"predictive over {set_name} ({pod_start:g} s):", json.dumps(total))
            report[f"{set_name}@{pod_start:g}s"] = {"summary": total, "traces": rows}
    common.write("scaling-suite", report)
    return 0
