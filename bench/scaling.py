"""Scaling simulator: Switchboard's policy (the operator's own `switchboard.scaling` code, fixed
and predictive warm pool) versus HPA-like, KEDA-like and fixed-buffer (Agones-style) policies.

    python -m bench.scaling [--trace FILE | --generate KIND] [--seed N] [--pod-start-s N]
                            [--json] [--plot PNG] [--warm N] [--coverage C]
    python -m bench.scaling --suite [--pod-starts 10,30,60]   (tuned-on vs held-out traces)

A trace is a CSV with columns `start_s,duration_s`, or generated (bench/traces/generate.py) from
`--seed`, which also seeds LiveKit's worker choice. Every table has the trace's physical limit:
the worker-seconds of a clairvoyant fleet that never lets a call wait (bench/scaling_limit.py).

The world is a discrete-event model of one worker Deployment: a policy sets the replica count; the
ReplicaSet creates pods that become ready `pod_start_s` later, and removes pods in its own order
(not-ready first, then the lowest `pod-deletion-cost`, then the most recently ready). A removed pod
with calls drains: it keeps them, takes no new one and goes away when they end
(terminationGracePeriod >= maxCallDuration). LiveKit hands a call to a ready worker with spare
capacity, at random weighted by spare capacity as livekit-server does; a call that finds none is
*cold* and waits (on hold) until a worker frees up or becomes ready. Every policy sees the same
demand signal: calls in progress plus calls waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from switchboard.api.common import parse_duration
from switchboard.scaling import PredictiveWarm, ScalingParams

from bench import common
from bench.scaling_limit import limit_worker_seconds
from bench.scaling_policies import policies
from bench.scaling_sim import Sim
from bench.traces.generate import KINDS

TRACES = Path(__file__).resolve().parent / "traces"
SHIPPED = ("steady", "bursty")
# The warm pool for the shipped traces: a bursty spike brings up to ~40 calls a minute, so
# ~7 calls on average arrive within one reaction + pod start (11 s), more with Poisson luck.
DEFAULT_WARM = 10


def load_trace(path: Path) -> list[tuple[float, float]]:
    with path.open(newline="") as f:
        rows = [(float(r["start_s"]), float(r["duration_s"])) for r in csv.DictReader(f)]
    return sorted(rows)


def simulate(
    trace: list[tuple[float, float]],
    params: ScalingParams,
    pod_start_s: float = 10.0,
    react_s: float = 1.0,
    hpa_target: float = 0.7,
    buffer: int | None = None,
    seed: int = 1,
    predictive: PredictiveWarm | None = None,
) -> list[tuple[dict[str, Any], Sim]]:
    """Every policy over `trace`: (metrics, finished simulation) per policy. The metrics carry
    `limit_ratio`: worker-seconds over the trace's physical limit."""
    limit = limit_worker_seconds(trace, pod_start_s, params.calls_per_worker)
    out = []
    warm = params.warm_workers if buffer is None else buffer
    for policy in policies(params, react_s, hpa_target, warm, predictive, pod_start_s):
        sim = Sim(trace, policy, pod_start_s, params.calls_per_worker, seed)
        m = sim.run()
        m["limit_ratio"] = round(m["worker_seconds"] / limit, 4) if limit else 0.0
        out.append((m, sim))
    return out


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The targets, on these results: the fixed pool against HPA-like (the first scaling issue)
    and the predictive pool's (<= 0.5 % cold, <= 0.8x HPA-like's worker-seconds, <= 1 pod
    started per call)."""
    by = {r["policy"]: r for r in results}
    sb, hpa, pred = by["switchboard"], by["hpa-like"], by["predictive"]
    ratio = hpa["cold_calls"] / sb["cold_calls"] if sb["cold_calls"] else math.inf
    hpa_ws = hpa["worker_seconds_per_call_second"]
    pred_vs_hpa = pred["worker_seconds_per_call_second"] / hpa_ws if hpa_ws else math.inf
    return {
        "cold_pct_le_1": sb["cold_pct"] <= 1.0,
        "cold_fewer_than_hpa_x": ratio if math.isfinite(ratio) else "inf",
        "cold_10x_fewer_than_hpa": ratio >= 10 or (sb["cold_calls"] == 0 == hpa["cold_calls"]),
        "worker_seconds_le_hpa": sb["worker_seconds_per_call_second"] <= hpa_ws,
        "predictive_cold_pct_le_0_5": pred["cold_pct"] <= 0.5,
        "predictive_worker_seconds_vs_hpa": round(pred_vs_hpa, 3),
        "predictive_worker_seconds_le_0_8_hpa": pred_vs_hpa <= 0.8,
        "predictive_pods_per_call_le_1": pred["pods_per_call"] <= 1.0,
    }


COLUMNS = [
    ("policy", "policy", "{}"),
    ("cold", "cold_calls", "{}"),
    ("cold%", "cold_pct", "{:.2f}"),
    ("wait mean s", "wait_mean_s", "{:.2f}"),
    ("wait p95 s", "wait_p95_s", "{:.2f}"),
    ("wait max s", "wait_max_s", "{:.2f}"),
    ("worker-s/call-s", "worker_seconds_per_call_second", "{:.3f}"),
    ("vs limit", "limit_ratio", "{:.3f}"),
    ("peak", "peak_workers", "{}"),
    ("pods", "pods_started", "{}"),
    ("pods/call", "pods_per_call", "{:.2f}"),
    ("busy removed", "busy_pods_removed", "{}"),
]


def table(results: list[dict[str, Any]]) -> str:
    cells = [[h for h, _, _ in COLUMNS]]
    cells += [[fmt.format(r[key]) for _, key, fmt in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    return "\n".join(lines)


def plot(runs: list[tuple[dict[str, Any], Sim]], title: str, path: Path) -> Path:
    """Workers (provisioned, ready) against calls (in progress, waiting), one panel per policy."""
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(
        len(runs), 1, figsize=(12, 2.6 * len(runs)), sharex=True, squeeze=False
    )
    for ax, (m, sim) in zip(axes[:, 0], runs, strict=True):
        t = [row[0] / 60 for row in sim.timeline] + [sim.now / 60]
        col = {k: [row[i] for row in sim.timeline] for i, k in enumerate("tprcw") if i}
        for series in col.values():
            series.append(series[-1])
        ax.step(t, col["p"], where="post", color="tab:blue", lw=1.2, label="workers provisioned")
        ax.step(t, col["r"], where="post", color="tab:cyan", lw=0.8, label="workers ready")
        ax.step(t, col["c"], where="post", color="tab:green", lw=1.0, label="calls in progress")
        ax.fill_between(
            t, 0, col["w"], step="post", color="tab:red", alpha=0.5, label="calls waiting"
        )
        ax.set_title(
            f"{m['policy']}: cold {m['cold_calls']} ({m['cold_pct']:.2f} %), wait "
            f"p95 {m['wait_p95_s']:.1f} s, {m['worker_seconds_per_call_second']:.2f} "
            f"worker-s/call-s, peak {m['peak_workers']}",
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel("count")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=4)
    axes[-1, 0].set_xlabel("minutes")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--trace",
        action="append",
        type=Path,
        help="trace CSV (start_s,duration_s); repeatable; default: the shipped "
        "steady and bursty traces",
    )
    ap.add_argument("--pod-start-s", type=float, default=10.0, help="pod start latency (10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per policy")
    ap.add_argument("--plot", type=Path, help="PNG (default bench/results/scaling-<trace>.png)")
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG")
    ap.add_argument(
        "--warm",
        type=int,
        default=DEFAULT_WARM,
        help=f"warmWorkers ({DEFAULT_WARM}; the CRD's default is 1)",
    )
    ap.add_argument("--calls-per-worker", type=int, default=1)
    ap.add_argument("--min-workers", type=int, default=0)
    ap.add_argument("--max-workers", type=int, default=1000)
    ap.add_argument("--scale-down-delay", default=None, help="Go duration (default: the CRD's)")
    ap.add_argument(
        "--react-s",
        type=float,
        default=1.0,
        help="Switchboard's decision latency after an event (1.0: the target)",
    )
    ap.add_argument("--hpa-target", type=float, default=0.7, help="HPA target utilisation")
    ap.add_argument("--buffer", type=int, default=None, help="fixed buffer size (default: --warm)")
    ap.add_argument(
        "--no-surge",
        action="store_true",
        help="Switchboard without the arrival surge term (the plain formula)",
    )
    ap.add_argument(
        "--generate",
        action="append",
        choices=sorted(KINDS),
        help="generate a trace of this kind from --seed instead of reading one; repeatable",
    )
    ap.add_argument(
        "--seed", type=int, default=1, help="seed of generated traces and of LiveKit's choice"
    )
    ap.add_argument("--coverage", type=float, default=None, help="predictive coverage")
    ap.add_argument("--warm-min", type=int, default=None, help="predictive warm.min")
    ap.add_argument("--warm-max", type=int, default=None, help="predictive warm.max")
    ap.add_argument(
        "--suite",
        action="store_true",
        help="the tuned-on and held-out trace sets side by side (bench/scaling_suite.py)",
    )
    ap.add_argument("--pod-starts", default=None, help="--suite: pod starts (10,30,60)")
    return ap.parse_args(argv)


def predictive_of(args: argparse.Namespace) -> PredictiveWarm:
    """The predictive warm pool of the command line, the CRD's defaults where unset."""
    from switchboard.api.voiceagent import WarmPool  # noqa: PLC0415

    spec = WarmPool(mode="predictive")
    return PredictiveWarm(
        spec.coverage if args.coverage is None else args.coverage,
        spec.minimum if args.warm_min is None else args.warm_min,
        spec.maximum if args.warm_max is None else args.warm_max,
    )


def sources(args: argparse.Namespace) -> list[tuple[str, list[tuple[float, float]]]]:
    """(name, trace) for each trace the command line names; default: the shipped ones."""
    out = [(path.stem, load_trace(path)) for path in args.trace or []]
    out += [(f"{kind}-s{args.seed}", KINDS[kind](args.seed)) for kind in args.generate or []]
    return out or [(name, load_trace(TRACES / f"{name}.csv")) for name in SHIPPED]


def main(argv: list[str]) -> int:
    from switchboard.api.voiceagent import Scaling  # noqa: PLC0415

    args = parse_args(argv)
    if args.suite:
        from bench import scaling_suite  # noqa: PLC0415 - imports this module

        return scaling_suite.run(args)
    spec = Scaling()
    delay = parse_duration(args.scale_down_delay or spec.scale_down_delay)
    params = ScalingParams(
        calls_per_worker=args.calls_per_worker,
        warm_workers=args.warm,
        min_workers=args.min_workers,
        max_workers=args.max_workers,
        scale_down_delay_s=delay.total_seconds(),
        pod_start_s=0.0 if args.no_surge else args.pod_start_s,  # as the operator measures it
    )
    warm = predictive_of(args)
    traces = sources(args)
    for name, trace in traces:
        runs = simulate(
            trace,
            params,
            args.pod_start_s,
            args.react_s,
            args.hpa_target,
            args.buffer,
            args.seed,
            warm,
        )
        results = [{"trace": name, "pod_start_s": args.pod_start_s, **m} for m, _ in runs]
        limit = limit_worker_seconds(trace, args.pod_start_s, params.calls_per_worker)
        if args.json:
            for r in results:
                print(json.dumps(r), flush=True)
        else:
            call_s = sum(d for _, d in trace)
            print(
                f"\n{name}: {len(trace)} calls, pod start {args.pod_start_s:g} s, "
                f"warm {params.warm_workers} (predictive: coverage {warm.coverage:g}, "
                f"{warm.minimum}-{warm.maximum}), calls/worker {params.calls_per_worker}, "
                f"scale-down delay {params.scale_down_delay_s:g} s; physical limit "
                f"{limit / call_s if call_s else 0:.3f} worker-s/call-s"
            )
            print(table(results))
        checks = targets(results)
        if not args.json:
            print("targets:", json.dumps(checks))
        # bench.common.write announces the file on stdout: keep stdout pure JSON with --json.
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            common.write(
                f"scaling-{name}",
                {
                    "trace": name,
                    "params": vars(params)
                    | {
                        "pod_start_s": args.pod_start_s,
                        "react_s": args.react_s,
                        "hpa_target": args.hpa_target,
                        "seed": args.seed,
                        "predictive": vars(warm),
                    },
                    "limit_worker_seconds": round(limit, 3),
                    "policies": results,
                    "targets": checks,
                },
            )
            if not args.no_plot:
                png = args.plot or common.RESULTS / f"scaling-{name}.png"
                if args.plot and len(traces) > 1:
                    png = png.with_name(f"{png.stem}-{name}{png.suffix}")
                print(f"wrote {plot(runs, f'{name}: pod start {args.pod_start_s:g} s', png)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
