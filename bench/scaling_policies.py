"""The policies the simulator compares: Switchboard's own code, HPA-, KEDA- and buffer-like."""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field

from switchboard.scaling import (
    BUSY_COST_PER_CALL,
    PredictiveWarm,
    ScalingParams,
    WorkerState,
    decide,
)
from switchboard.scaling.rate import EventRate

from bench.scaling_sim import EPS, Call, Policy, Sim


def _start(call: Call) -> float:
    return call.start


@dataclass
class Switchboard:
    """The operator's policy: `switchboard.scaling.decide` on every change and at its rechecks.

    `react_s` is the decision latency after a call starts or ends (the target is <= 1 s p95).
    """

    params: ScalingParams
    react_s: float | None = 1.0
    name: str = "switchboard"
    period_s: float | None = None
    # Observed from the start of the trace, as a fleet is from its VoiceAgent's creation.
    arrivals: EventRate = field(default_factory=lambda: EventRate(origin=0.0))
    ends: EventRate = field(default_factory=lambda: EventRate(origin=0.0))
    seen: int = 0  # calls fed to `arrivals` so far (the trace is sorted by start)
    seen_ends: int = 0  # entries of `sim.ended` fed to `ends`
    window: int = 0  # the first call that may still be a recent start

    def evaluate(self, sim: Sim) -> float | None:
        workers = [
            WorkerState(p.name, p.ready, p.calls, p.idle_since, p.terminating)
            for p in sim.present()
        ]
        # The operator sees every call start (the event that triggers this evaluation).
        while self.seen < len(sim.calls) and sim.calls[self.seen].start <= sim.now:
            self.arrivals.observe(sim.calls[self.seen].start)
            self.seen += 1
        for t in sim.ended[self.seen_ends :]:
            self.ends.observe(t)
        self.seen_ends = len(sim.ended)
        starts = [c.start for c in sim.calls[self.window : self.seen] if c.start >= sim.now - 600]
        self.window = bisect.bisect_left(
            sim.calls, sim.now - 600, self.window, self.seen, key=_start
        )
        d = decide(
            workers,
            len(sim.live()),
            self.params,
            sim.now,
            pending_calls=len(sim.waiting),
            recent_starts=starts,
            arrivals=self.arrivals,
            ends=self.ends,
        )
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


def policies(
    params: ScalingParams,
    react_s: float,
    hpa_target: float,
    buffer: int,
    predictive: PredictiveWarm | None = None,
    pod_start_s: float = 10.0,
) -> list[Policy]:
    """The compared policies; `params` is the fixed-mode VoiceAgent, `predictive` (default: the
    CRD's defaults) the same VoiceAgent with `scaling.warm.mode: predictive`, which knows the
    pod start as the operator measures it."""
    warm = predictive or PredictiveWarm(*_crd_warm_defaults())
    sized = dataclasses.replace(params, predictive=warm, pod_start_s=pod_start_s)
    return [
        Switchboard(dataclasses.replace(params, predictive=None), react_s=react_s),
        Switchboard(sized, react_s, name="predictive"),
        HpaLike(params, target=hpa_target),
        KedaLike(params),
        FixedBuffer(params, buffer=buffer),
    ]


def _crd_warm_defaults() -> tuple[float, int, int]:
    from switchboard.api.voiceagent import WarmPool  # noqa: PLC0415 - the CRD's own defaults

    spec = WarmPool(mode="predictive")
    return spec.coverage, spec.minimum, spec.maximum
