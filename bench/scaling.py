"""Scaling simulator: Switchboard's policy (the operator's own `switchboard.scaling` code) versus
HPA-like, KEDA-like and fixed-buffer (Agones-style) policies on a call-arrival trace.

    python -m bench.scaling --trace FILE [--pod-start-s N] [--json] [--plot PNG] [--warm N]

A trace is a CSV with columns `start_s,duration_s`. The world is a discrete-event model of one
worker Deployment: a policy sets the replica count; the ReplicaSet creates pods that become ready
`pod_start_s` later, and removes pods in its own order (not-ready first, then the lowest
`pod-deletion-cost`, then the most recently ready). A removed pod with calls drains: it keeps
them, takes no new one and goes away when they end (terminationGracePeriod >= maxCallDuration).
LiveKit hands a call to a ready worker with spare capacity, at random weighted by spare capacity
as livekit-server does; a call that finds none is *cold* and waits (on hold) until a worker frees
up or becomes ready. Every policy sees the same demand signal: calls in progress plus calls
waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import heapq
import itertools
import json
import math
import random
import statistics
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from switchboard.api.common import parse_duration
from switchboard.scaling import BUSY_COST_PER_CALL, ScalingParams, WorkerState, decide

from bench import common
from bench.common import pct

TRACES = Path(__file__).resolve().parent / "traces"
SHIPPED = ("steady", "bursty")
# Event order at equal times: capacity is freed and added before calls arrive; policies last.
END, READY, ARRIVE, DECIDE = range(4)
EPS = 1e-9
# The warm pool for the shipped traces: a bursty spike brings up to ~40 calls a minute, so
# ~7 calls on average arrive within one reaction + pod start (11 s), more with Poisson luck.
DEFAULT_WARM = 10


@dataclass(eq=False)
class Pod:
    name: str
    seq: int
    created: float
    ready: bool = False
    ready_at: float = 0.0
    calls: int = 0
    idle_since: float | None = None
    terminating: bool = False
    gone: float | None = None
    cost: int = 0


@dataclass(eq=False)
class Call:
    start: float
    duration: float
    served: float | None = None
    pod: Pod | None = None


class Policy(Protocol):
    name: str
    period_s: float | None  # polled every period_s ...
    react_s: float | None  # ... or evaluated react_s after every change (batched)

    def evaluate(self, sim: Sim) -> float | None:
        """Set the replicas; return seconds until the policy wants to look again, if any."""
        ...


class Sim:
    """One run of one policy over one trace."""

    def __init__(
        self, trace: list[tuple[float, float]], policy: Policy, pod_start_s: float, cpw: int,
        seed: int = 1,
    ) -> None:  # fmt: skip
        self.calls = [Call(s, d) for s, d in trace]
        self.policy, self.pod_start_s, self.cpw = policy, pod_start_s, cpw
        self.rng = random.Random(seed)
        self.now = 0.0
        self.pods: list[Pod] = []
        self.waiting: deque[Call] = deque()
        self.busy_removed = 0
        self.timeline: list[tuple[float, int, int, int, int]] = []
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self._react_pending = False
        self._recheck_at = math.inf
        self._prewarm = False

    # -- the world ------------------------------------------------------------------------
    def present(self) -> list[Pod]:
        return [p for p in self.pods if p.gone is None]

    def live(self) -> list[Pod]:
        """Pods the ReplicaSet counts: present and not terminating."""
        return [p for p in self.pods if p.gone is None and not p.terminating]

    def demand(self) -> int:
        return sum(p.calls for p in self.live()) + len(self.waiting)

    def scale(self, replicas: int) -> None:
        """The ReplicaSet: create or remove pods to reach `replicas` live ones."""
        live = self.live()
        for _ in range(replicas - len(live)):
            seq = len(self.pods)
            pod = Pod(f"w{seq:04d}", seq, self.now, ready_at=self.now + self.pod_start_s)
            self.pods.append(pod)
            if self._prewarm:
                pod.ready, pod.ready_at, pod.idle_since = True, self.now, self.now
            else:
                self._push(pod.ready_at, READY, pod)
        ranked = sorted(live, key=lambda p: (p.ready, p.cost, -p.ready_at, -p.seq))
        for pod in ranked[: max(0, len(live) - replicas)]:
            pod.terminating = True
            if pod.calls:
                self.busy_removed += 1
            else:
                pod.gone = self.now

    def _pick(self) -> Pod | None:
        free = [p for p in self.live() if p.ready and p.calls < self.cpw]
        if not free:
            return None
        weights = [self.cpw - p.calls for p in free]
        return self.rng.choices(free, weights)[0]

    def _serve(self) -> None:
        while self.waiting and (pod := self._pick()):
            call = self.waiting.popleft()
            call.served, call.pod = self.now, pod
            pod.calls += 1
            pod.idle_since = None
            self._push(self.now + call.duration, END, call)

    # -- the event loop -------------------------------------------------------------------
    def _push(self, t: float, kind: int, item: Any) -> None:
        heapq.heappush(self._heap, (t, kind, next(self._seq), item))

    def _evaluate(self) -> None:
        again = self.policy.evaluate(self)
        if again is not None and self.now + again + 1e-6 < self._recheck_at:
            self._recheck_at = self.now + again + 1e-6
            self._push(self._recheck_at, DECIDE, "recheck")

    def _record(self) -> None:
        present = self.present()
        row = (self.now, len(present), sum(1 for p in present if p.ready and not p.terminating),
               sum(p.calls for p in present), len(self.waiting))  # fmt: skip
        if self.timeline and self.timeline[-1][1:] == row[1:]:
            return
        self.timeline.append(row)

    def run(self) -> dict[str, Any]:
        for call in self.calls:
            self._push(call.start, ARRIVE, call)
        self._prewarm = True
        self._evaluate()
        self._prewarm = False
        if self.policy.period_s:
            self._push(self.policy.period_s, DECIDE, "tick")
        self._record()
        remaining = len(self.calls)
        while remaining and self._heap:
            self.now, kind, _, item = heapq.heappop(self._heap)
            if kind == DECIDE:
                if item == "tick":
                    assert self.policy.period_s
                    self._push(self.now + self.policy.period_s, DECIDE, "tick")
                elif item == "react":
                    self._react_pending = False
                elif item == "recheck":
                    if self.now < self._recheck_at - EPS:
                        continue
                    self._recheck_at = math.inf
                self._evaluate()
                self._record()
                continue
            if kind == ARRIVE:
                self.waiting.append(item)
            elif kind == END:
                remaining -= 1
                pod = item.pod
                pod.calls -= 1
                if pod.calls == 0:
                    pod.idle_since = self.now if pod.ready else None
                    if pod.terminating:
                        pod.gone = self.now
            elif kind == READY:
                if item.gone is not None or item.terminating:
                    continue
                item.ready, item.idle_since = True, self.now
            self._serve()
            if self.policy.react_s is not None and not self._react_pending:
                self._react_pending = True
                self._push(self.now + self.policy.react_s, DECIDE, "react")
            self._record()
        return self.metrics()

    def metrics(self) -> dict[str, Any]:
        end = self.now
        waits = [c.served - c.start for c in self.calls if c.served is not None]
        cold = sum(1 for w in waits if w > EPS)
        call_s = sum(c.duration for c in self.calls)
        worker_s = sum(max(0.0, min(end, p.gone if p.gone is not None else end) - p.created)
                       for p in self.pods)  # fmt: skip
        n = len(self.calls)
        return {
            "policy": self.policy.name,
            "calls": n,
            "cold_calls": cold,
            "cold_pct": round(100 * cold / n, 3) if n else 0.0,
            "wait_mean_s": round(statistics.fmean(waits), 3) if waits else 0.0,
            "wait_p95_s": round(pct(waits, 95), 3) if waits else 0.0,
            "wait_max_s": round(max(waits), 3) if waits else 0.0,
            "worker_seconds": round(worker_s, 3),
            "call_seconds": round(call_s, 3),
            "worker_seconds_per_call_second": round(worker_s / call_s, 4) if call_s else 0.0,
            "peak_workers": max((row[1] for row in self.timeline), default=0),
            "pods_started": len(self.pods),
            "busy_pods_removed": self.busy_removed,
        }


# -- policies ---------------------------------------------------------------------------------
@dataclass
class Switchboard:
    """The operator's policy: `switchboard.scaling.decide` on every change and at its rechecks.

    `react_s` is the decision latency after a call starts or ends (the target is <= 1 s p95).
    """

    params: ScalingParams
    react_s: float | None = 1.0
    name: str = "switchboard"
    period_s: float | None = None

    def evaluate(self, sim: Sim) -> float | None:
        workers = [WorkerState(p.name, p.ready, p.calls, p.idle_since, p.terminating)
                   for p in sim.present()]  # fmt: skip
        # The operator sees every call start (the event that triggers this evaluation).
        starts = [c.start for c in sim.calls if sim.now - 600 <= c.start <= sim.now]
        d = decide(workers, len(sim.live()), self.params, sim.now,
                   pending_calls=len(sim.waiting), recent_starts=starts)  # fmt: skip
        for pod in sim.live():
            pod.cost = d.deletion_cost.get(pod.name, 0)
        sim.scale(d.desired)
        return d.recheck_after_s


@dataclass
class Stabilised:
    """HPA arithmetic shared by the HPA-like and KEDA-like policies.

    The scale-down stabilisation window keeps the highest recommendation of the last
    `window_s`; an optional scale-up limit is the HPA default (max(+4 pods, +100 %) per period).
    No pod-deletion-cost: the ReplicaSet may pick a busy pod, which then drains.
    """

    params: ScalingParams
    name: str = ""
    period_s: float | None = 15.0
    window_s: float = 300.0
    rate_limit: bool = True
    react_s: float | None = None
    history: list[tuple[float, int]] = field(default_factory=list)

    def recommend(self, sim: Sim, current: int) -> int:
        raise NotImplementedError

    def evaluate(self, sim: Sim) -> float | None:
        current = len(sim.live())
        rec = self.recommend(sim, current)
        self.history = [(t, r) for t, r in self.history if t > sim.now - self.window_s]
        self.history.append((sim.now, rec))
        if rec > current:
            desired = min(rec, max(current + 4, 2 * current)) if self.rate_limit else rec
        else:
            desired = min(current, max(r for _, r in self.history))
        sim.scale(desired)
        return None


@dataclass
class HpaLike(Stabilised):
    """HPA on a calls-per-pod metric: 15 s sync, target `target` x callsPerWorker per pod,
    10 % tolerance, 300 s scale-down stabilisation, default scale-up limits, minReplicas >= 1."""

    target: float = 0.7
    name: str = "hpa-like"

    def recommend(self, sim: Sim, current: int) -> int:
        per_pod = self.target * self.params.calls_per_worker
        demand = sim.demand()
        if current and abs(demand / (per_pod * current) - 1) <= 0.1:
            rec = current
        else:
            rec = math.ceil(demand / per_pod - EPS)
        return max(1, self.params.min_workers, min(self.params.max_workers, rec))


@dataclass
class KedaLike(Stabilised):
    """KEDA-like: polls every 30 s, scales to ceil(calls / callsPerWorker) (no warm pool, to
    zero allowed), 300 s cooldown before scaling down; no scale-up limit (a generous model)."""

    name: str = "keda-like"
    period_s: float | None = 30.0
    rate_limit: bool = False

    def recommend(self, sim: Sim, current: int) -> int:
        rec = math.ceil(sim.demand() / self.params.calls_per_worker - EPS)
        return max(self.params.min_workers, min(self.params.max_workers, rec))


@dataclass
class FixedBuffer:
    """Agones-style fleet buffer: keep `buffer` ready unallocated workers beyond the busy ones,
    reacting 0.5 s (Agones' batching) after a change; idle pods are removed at once, busy never."""

    params: ScalingParams
    buffer: int = 1
    react_s: float | None = 0.5
    name: str = "fixed-buffer"
    period_s: float | None = None

    def evaluate(self, sim: Sim) -> float | None:
        live = sim.live()
        allocated = sum(1 for p in live if p.calls)
        for pod in live:
            pod.cost = BUSY_COST_PER_CALL * pod.calls
        want = allocated + math.ceil(len(sim.waiting) / self.params.calls_per_worker) + self.buffer
        sim.scale(max(self.params.min_workers, min(self.params.max_workers, want)))
        return None


def policies(params: ScalingParams, react_s: float, hpa_target: float, buffer: int) -> list[Policy]:
    return [
        Switchboard(params, react_s=react_s),
        HpaLike(params, target=hpa_target),
        KedaLike(params),
        FixedBuffer(params, buffer=buffer),
    ]


def load_trace(path: Path) -> list[tuple[float, float]]:
    with path.open(newline="") as f:
        rows = [(float(r["start_s"]), float(r["duration_s"])) for r in csv.DictReader(f)]
    return sorted(rows)


def simulate(
    trace: list[tuple[float, float]], params: ScalingParams, pod_start_s: float = 10.0,
    react_s: float = 1.0, hpa_target: float = 0.7, buffer: int | None = None, seed: int = 1,
) -> list[tuple[dict[str, Any], Sim]]:  # fmt: skip
    """Every policy over `trace`: (metrics, finished simulation) per policy."""
    out = []
    for policy in policies(params, react_s, hpa_target, params.warm_workers if buffer is None
                           else buffer):  # fmt: skip
        sim = Sim(trace, policy, pod_start_s, params.calls_per_worker, seed)
        out.append((sim.run(), sim))
    return out


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, evaluated on these results (Switchboard against HPA-like)."""
    by = {r["policy"]: r for r in results}
    sb, hpa = by["switchboard"], by["hpa-like"]
    ratio = hpa["cold_calls"] / sb["cold_calls"] if sb["cold_calls"] else math.inf
    return {
        "cold_pct_le_1": sb["cold_pct"] <= 1.0,
        "cold_fewer_than_hpa_x": ratio if math.isfinite(ratio) else "inf",
        "cold_10x_fewer_than_hpa": ratio >= 10 or (sb["cold_calls"] == 0 == hpa["cold_calls"]),
        "worker_seconds_le_hpa": sb["worker_seconds_per_call_second"]
        <= hpa["worker_seconds_per_call_second"],
    }


COLUMNS = [("policy", "policy", "{}"), ("cold", "cold_calls", "{}"),
           ("cold%", "cold_pct", "{:.2f}"), ("wait mean s", "wait_mean_s", "{:.2f}"),
           ("wait p95 s", "wait_p95_s", "{:.2f}"),
           ("wait max s", "wait_max_s", "{:.2f}"),
           ("worker-s/call-s", "worker_seconds_per_call_second", "{:.3f}"),
           ("peak", "peak_workers", "{}"), ("pods", "pods_started", "{}"),
           ("busy removed", "busy_pods_removed", "{}")]  # fmt: skip


def table(results: list[dict[str, Any]]) -> str:
    cells = [[h for h, _, _ in COLUMNS]]
    cells += [[fmt.format(r[key]) for _, key, fmt in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]  # fmt: skip
    return "\n".join(lines)


def plot(runs: list[tuple[dict[str, Any], Sim]], title: str, path: Path) -> Path:
    """Workers (provisioned, ready) against calls (in progress, waiting), one panel per policy."""
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(len(runs), 1, figsize=(12, 2.6 * len(runs)), sharex=True,
                             squeeze=False)  # fmt: skip
    for ax, (m, sim) in zip(axes[:, 0], runs, strict=True):
        t = [row[0] / 60 for row in sim.timeline] + [sim.now / 60]
        col = {k: [row[i] for row in sim.timeline] for i, k in enumerate("tprcw") if i}
        for series in col.values():
            series.append(series[-1])
        ax.step(t, col["p"], where="post", color="tab:blue", lw=1.2, label="workers provisioned")
        ax.step(t, col["r"], where="post", color="tab:cyan", lw=0.8, label="workers ready")
        ax.step(t, col["c"], where="post", color="tab:green", lw=1.0, label="calls in progress")
        ax.fill_between(t, 0, col["w"], step="post", color="tab:red", alpha=0.5,
                        label="calls waiting")  # fmt: skip
        ax.set_title(f"{m['policy']}: cold {m['cold_calls']} ({m['cold_pct']:.2f} %), wait "
                     f"p95 {m['wait_p95_s']:.1f} s, {m['worker_seconds_per_call_second']:.2f} "
                     f"worker-s/call-s, peak {m['peak_workers']}",
                     fontsize=9, loc="left")  # fmt: skip
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
    ap.add_argument("--trace", action="append", type=Path,
                    help="trace CSV (start_s,duration_s); repeatable; default: the shipped "
                    "steady and bursty traces")  # fmt: skip
    ap.add_argument("--pod-start-s", type=float, default=10.0, help="pod start latency (10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per policy")
    ap.add_argument("--plot", type=Path, help="PNG (default bench/results/scaling-<trace>.png)")
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG")
    ap.add_argument("--warm", type=int, default=DEFAULT_WARM,
                    help=f"warmWorkers ({DEFAULT_WARM}; the CRD's default is 1)")  # fmt: skip
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
    ap.add_argument("--seed", type=int, default=1, help="seed of LiveKit's worker choice")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    from switchboard.api.voiceagent import Scaling  # noqa: PLC0415

    args = parse_args(argv)
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
    paths = args.trace or [TRACES / f"{name}.csv" for name in SHIPPED]
    for path in paths:
        trace = load_trace(path)
        runs = simulate(trace, params, args.pod_start_s, args.react_s, args.hpa_target,
                        args.buffer, args.seed)  # fmt: skip
        results = [{"trace": path.stem, "pod_start_s": args.pod_start_s, **m} for m, _ in runs]
        if args.json:
            for r in results:
                print(json.dumps(r), flush=True)
        else:
            print(f"\n{path.stem}: {len(trace)} calls, pod start {args.pod_start_s:g} s, "
                  f"warm {params.warm_workers}, calls/worker {params.calls_per_worker}, "
                  f"scale-down delay {params.scale_down_delay_s:g} s")  # fmt: skip
            print(table(results))
        checks = targets(results)
        if not args.json:
            print("targets (switchboard vs hpa-like):", json.dumps(checks))
        # bench.common.write announces the file on stdout: keep stdout pure JSON with --json.
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            common.write(f"scaling-{path.stem}", {
                "trace": str(path), "params": vars(params) | {"pod_start_s": args.pod_start_s,
                "react_s": args.react_s, "hpa_target": args.hpa_target, "seed": args.seed},
                "policies": results, "targets": checks})  # fmt: skip
            if not args.no_plot:
                png = args.plot or common.RESULTS / f"scaling-{path.stem}.png"
                if args.plot and len(paths) > 1:
                    png = png.with_name(f"{png.stem}-{path.stem}{png.suffix}")
                print(f"wrote {plot(runs, f'{path.stem}: pod start {args.pod_start_s:g} s', png)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
