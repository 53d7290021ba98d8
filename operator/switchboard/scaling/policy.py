"""The scaling decision: desired workers, scale-down eligibility and pod deletion costs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from switchboard.api.common import parse_duration
from switchboard.api.voiceagent import Scaling
from switchboard.scaling.rate import EventRate
from switchboard.scaling.warm import next_drop_s, warm_target

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# A busy worker's deletion cost per active call: far above every idle cost (which is negative).
BUSY_COST_PER_CALL = 1_000_000
# While a scale-down is held for a busy worker that is not ready, look again this often: its
# readiness returning and its call ending are events, but its report going stale is not.
HOLD_RECHECK_S = 5.0
# A predictive pool covers the arrivals of one pod start plus the decision before it (the
# scaler's target is <= 1 s p95 from a report to the replica write).
REACTION_S = 1.0
# Predictive mode keeps an idle surplus of this many standard deviations of the net demand
# swing of one pod start (see `decide`).
BAND_Z = 1.0


@dataclass(frozen=True)
class PredictiveWarm:
    """`scaling.warm` in predictive mode: idle workers for the calls of one pod start.

    The pool covers the arrivals expected within one pod start (at the estimated arrival rate)
    with probability `coverage`, and stays within [minimum, maximum].
    """

    coverage: float
    minimum: int
    maximum: int

    def __post_init__(self) -> None:
        if not 0.0 < self.coverage < 1.0:
            raise ValueError("coverage must be in (0, 1)")
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError("warm minimum must be >= 0 and <= maximum")


@dataclass(frozen=True)
class ScalingParams:
    """The scaling knobs of one VoiceAgent, in plain numbers (seconds for durations).

    `pod_start_s` is not in the spec: it is the caller's estimate of how long a requested worker
    takes to become ready (e.g. the p90 of its recent pods' creation-to-Ready times). It enables
    the arrival surge term of `decide`; 0 disables it and leaves the plain formula.
    """

    calls_per_worker: int
    warm_workers: int
    min_workers: int
    max_workers: int
    scale_down_delay_s: float
    pod_start_s: float = 0.0
    # None: the fixed pool of `warm_workers`; else sized from the arrival rate.
    predictive: PredictiveWarm | None = None

    def __post_init__(self) -> None:
        if self.calls_per_worker < 1:
            raise ValueError("calls_per_worker must be at least 1")
        if min(self.warm_workers, self.min_workers, self.scale_down_delay_s, self.pod_start_s) < 0:
            raise ValueError("warm, min workers, scale-down delay and pod start must be >= 0")
        if self.min_workers > self.max_workers:
            raise ValueError("min_workers must be less than or equal to max_workers")

    @classmethod
    def from_spec(cls, scaling: Scaling, pod_start_s: float = 0.0) -> ScalingParams:
        """The parameters of a VoiceAgent's `spec.scaling` (plus the measured pod start)."""
        return cls(
            calls_per_worker=scaling.calls_per_worker,
            warm_workers=scaling.warm_workers,
            min_workers=scaling.min_workers,
            max_workers=scaling.max_workers,
            scale_down_delay_s=parse_duration(scaling.scale_down_delay).total_seconds(),
            pod_start_s=pod_start_s,
            predictive=(
                PredictiveWarm(warm.coverage, warm.minimum, warm.maximum)
                if (warm := scaling.warm) is not None and warm.mode == "predictive"
                else None
            ),
        )


@dataclass(frozen=True)
class WorkerState:
    """What the scaler knows about one worker pod.

    `idle_since` is when `active_calls` last became 0 (or when the pod became ready with no
    call); None while the worker is busy or not ready. `terminating` pods (deleted, draining
    their calls) are no longer part of the replica count and never take a new call.
    """

    name: str
    ready: bool
    active_calls: int
    idle_since: float | None
    terminating: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome of one scaling evaluation.

    `desired` is the replica count to request now; `raw_desired` the formula's target before the
    scale-down delay. `deletion_cost` maps each live pod to its
    `controller.kubernetes.io/pod-deletion-cost`. `recheck_after_s`, when set, is how long until
    a pending scale-down becomes eligible: evaluate again then. The counts describe the fleet
    for the status: `active_calls` counts every call in progress (draining pods and calls still
    waiting for a worker included), `ready` the ready live workers, of which `idle` have spare
    capacity and `busy` are at capacity. `surge` is the arrival surge term included in
    `raw_desired` (calls started within the last pod start). `held_by` names the busy workers
    that are not ready while a scale-down is due: it is held until none is left.
    """

    desired: int
    raw_desired: int
    deletion_cost: dict[str, int] = field(default_factory=dict)
    recheck_after_s: float | None = None
    active_calls: int = 0
    idle: int = 0
    busy: int = 0
    ready: int = 0
    surge: int = 0
    held_by: tuple[str, ...] = ()
    warm_target: int = 0
    arrival_rate: float = 0.0


def desired_workers(active_calls: int, p: ScalingParams, warm: int | None = None) -> int:
    """clamp(ceil((active_calls + warm) / calls_per_worker), min_workers, max_workers), where
    `warm` defaults to the fixed `warm_workers`."""
    pool = p.warm_workers if warm is None else warm
    needed = math.ceil((max(0, active_calls) + pool) / p.calls_per_worker)
    return max(p.min_workers, min(p.max_workers, needed))


def end_credit(ends: EventRate | None, horizon_s: float, in_progress: int) -> float:
    """The call-end rate (calls/s) whose freed workers the pool counts on within `horizon_s`.

    The floor of the end rate as of the last call end, held until the next end, and never more
    than the calls in progress can give: a call that is not there cannot end. Between events
    it is constant, so the pool then only shrinks with the decaying arrival estimate (it is
    monotone in that, see `warm.covering_pool`) and `next_drop_s` sees the same pool as the
    next decision will. When the last call ends the credit is gone at once, on that event.
    """
    if ends is None or horizon_s <= 0:
        return 0.0
    return min(ends.floor_rate_held(horizon_s), max(0, in_progress) / horizon_s)


def warm_pool(
    p: ScalingParams,
    arrivals: EventRate | None,
    ends: EventRate | None,
    now: float,
    in_progress: int = 0,
) -> tuple[int, float]:
    """(idle workers to keep, the arrival rate it is sized from, calls/s) at `now`;
    `in_progress` is the calls on live workers (the most that can end and free one)."""
    horizon = p.pod_start_s + REACTION_S
    rate = arrivals.rate(now, horizon) if arrivals is not None else 0.0
    w = p.predictive
    if w is None:
        return p.warm_workers, rate
    freed = end_credit(ends, horizon, in_progress)
    return warm_target(rate, horizon, w.coverage, w.minimum, w.maximum, freed), rate


def deletion_costs(workers: Sequence[WorkerState], now: float) -> dict[str, int]:
    """Pod deletion costs so that a ReplicaSet scale-down removes idle pods, longest-idle first.

    - A worker with calls costs `BUSY_COST_PER_CALL * active_calls`: busy pods go last, the
      most loaded very last.
    - An idle ready worker costs `int(idle_since) - 2**31` (clamped into [-2**31, -1]): always
      negative, lower the longer it has been idle. It depends on `idle_since` only, not on
      `now`, so a cost changes only when the worker turns busy or idle and the caller patches
      pods on those transitions alone, not on every evaluation.
    - A worker that is not ready and has no call (still starting) costs -2**31; the ReplicaSet
      removes not-ready pods before ready ones whatever their cost.
    - Terminating workers get no entry: they are already leaving.
    """
    costs: dict[str, int] = {}
    for w in workers:
        if w.terminating:
            continue
        if w.active_calls > 0:
            costs[w.name] = min(INT32_MAX, BUSY_COST_PER_CALL * w.active_calls)
        elif not w.ready:
            costs[w.name] = INT32_MIN
        else:
            since = now if w.idle_since is None else w.idle_since
            costs[w.name] = max(INT32_MIN, min(-1, math.floor(since) - 2**31))
    return costs


def _idle_age(w: WorkerState, now: float) -> float | None:
    """How long a live, ready worker without calls has been idle (None if it is not idle)."""
    if w.terminating or not w.ready or w.active_calls > 0 or w.idle_since is None:
        return None
    return max(0.0, now - w.idle_since)


def _idle_threshold(p: ScalingParams, starting: bool) -> float:
    """How long a worker must have been idle before a scale-down may remove it."""
    threshold = p.scale_down_delay_s
    if p.predictive is not None:
        # Keeping an idle worker for one pod start costs what starting another would: below
        # that, removing one the pool may soon need again is a loss (ski rental's break-even).
        threshold = max(threshold, p.pod_start_s)
    return 2 * threshold if starting else threshold


def _scale_down_floor(p: ScalingParams, raw: int, rate: float) -> int:
    """The fewest workers a scale-down may leave: `raw`, plus a band in predictive mode.

    Calls start and end at about the same rate, so the idle surplus wanders by about
    sqrt(2 * rate * horizon) within one pod start: removing what such a swing soon needs again
    means starting it again, one pod start each time. The band keeps that much.
    """
    if p.predictive is None:
        return raw
    band = math.ceil(BAND_Z * math.sqrt(2 * rate * (p.pod_start_s + REACTION_S)))
    return min(p.max_workers, raw + math.ceil(band / p.calls_per_worker))


def _pool_drop_s(
    p: ScalingParams,
    arrivals: EventRate | None,
    ends: EventRate | None,
    now: float,
    in_progress: int,
) -> float | None:
    """Seconds until a predictive pool shrinks if no call starts or ends (None: it will not)."""
    if p.predictive is None or arrivals is None:
        return None
    w, horizon = p.predictive, p.pod_start_s + REACTION_S
    return next_drop_s(
        lambda dt: arrivals.rate(now + dt, horizon),
        horizon,
        w.coverage,
        w.minimum,
        w.maximum,
        end_credit(ends, horizon, in_progress),
    )


def decide(
    workers: Sequence[WorkerState],
    current_replicas: int,
    p: ScalingParams,
    now: float,
    pending_calls: int = 0,
    recent_starts: Sequence[float] = (),
    arrivals: EventRate | None = None,
    ends: EventRate | None = None,
) -> Decision:
    """One scaling evaluation; call it on every call start or end, pod change and at recheck.

    The demand is the calls on live (non-terminating) workers plus `pending_calls`: calls that
    are known (e.g. a LiveKit room with a caller) but have no worker yet. Counting them is what
    keeps a burst that outruns the warm pool from being served one pod start at a time.

    Better than the formula: the arrival surge. With `p.pod_start_s` set, every call in
    `recent_starts` (call start times on the clock of `now`; older ones may be passed and are
    ignored) that started less than `pod_start_s` ago adds one worker. The plain formula asks
    for one pod per arriving call, so under an arrival rate r about r * pod_start of the warm
    pool is always in flight (still starting) and the *ready* idle pool shrinks to
    warm - r * pod_start: a sustained burst drains it and every later fluctuation finds no
    worker. The surge term refills the in-flight part, so the ready pool stays near
    `warm_workers` at any rate, and it vanishes one pod start after arrivals stop. It counts
    arrivals, not starting pods, so it cannot feed on itself. (On the shipped bursty trace with
    a 10 s pod start it reaches the same cold-call rate with a smaller warm pool and fewer
    worker-seconds; see bench/scaling.py.)

    - Scale up happens at once to `raw_desired = desired_workers(demand + surge)`. Pods that
      are still starting count toward it (they are part of `current_replicas`), so a burst is
      not over-provisioned while its pods start.
    - Scale down happens only by the number of ready workers that have had no call for at least
      `scale_down_delay_s`, never below `raw_desired`. Busy workers are never counted, and the
      deletion costs make the ReplicaSet remove the longest-idle pods first and busy pods last.
      When some of the surplus is idle but not yet long enough, or the surge will expire while
      workers are idle, `recheck_after_s` says when to evaluate again.
    - While a worker is still starting (not ready), the idle threshold is twice the delay. A
      ReplicaSet removes not-ready pods before ready ones whatever their deletion cost, so a
      scale-down then would cancel a starting pod (a wasted start, soon requested again) and
      keep the long-idle one. Waiting lets the starting pods become ready first; the bound
      keeps a pod that never becomes ready (unschedulable, crash-looping) from blocking
      scale-down for good. On the simulator's traces: a third fewer pod starts for about 2 %
      more worker-seconds.
    - While a worker with calls is not ready (say its LiveKit connection is recovering), no
      scale-down happens at all, and `recheck_after_s` is at most `HOLD_RECHECK_S`. The
      ReplicaSet removes not-ready pods first, so any scale-down then could pick that busy pod
      and cut its calls, deletion cost or not. Unlike the bound above, this one does not
      expire: a call ends by maxCallDuration, and a silent worker's report goes stale.
    - Predictive mode (`p.predictive`, `scaling.warm.mode: predictive`): the warm pool is not
      `warm_workers` but `warm_pool`: the idle workers that serve `coverage` of the calls
      arriving within one pod start (plus `REACTION_S`), at the rate `arrivals` estimates, less
      the workers that calls ending at the `ends` rate free meanwhile. That pool covers the
      pod start itself, so there is no surge term. An idle worker stays for at least one pod
      start, and a band of sqrt(2 * rate * horizon) idle workers beyond `raw_desired` is kept:
      removing a worker that the next swing of demand needs again costs a pod start.
      `recheck_after_s` includes the moment the decaying estimate lowers the pool.
    - The result is never above `max_workers` nor below `min_workers`. (Lowering maxWorkers below
      the busy workers does remove busy pods; they drain their calls within the grace period.)
    """
    live = [w for w in workers if not w.terminating]
    ready = [w for w in live if w.ready]
    demand = sum(w.active_calls for w in live) + max(0, pending_calls)
    # A predictive pool already covers the calls of one pod start: no surge on top of it.
    surge_on = p.pod_start_s > 0 and p.predictive is None
    surging = [t for t in recent_starts if t > now - p.pod_start_s] if surge_on else []
    surge = len(surging)
    in_progress = sum(w.active_calls for w in live)
    warm, rate = warm_pool(p, arrivals, ends, now, in_progress)
    raw = desired_workers(demand + surge, p, warm)

    ages = [a for a in (_idle_age(w, now) for w in live) if a is not None]
    threshold = _idle_threshold(p, starting=any(not w.ready for w in live))
    eligible = sum(1 for a in ages if a >= threshold)
    floor = _scale_down_floor(p, raw, rate)
    desired = raw if raw >= current_replicas else max(floor, current_replicas - eligible)
    desired = min(desired, max(raw, current_replicas))  # the band holds workers, never adds
    held_by: tuple[str, ...] = ()
    if desired < current_replicas:
        held_by = tuple(w.name for w in live if w.active_calls > 0 and not w.ready)
        if held_by:
            desired = current_replicas
    desired = max(p.min_workers, min(p.max_workers, desired))

    waits = [threshold - a for a in ages if a < threshold and desired > raw]
    if surging and ages:  # the surge expires without any event: look again then
        waits.append(max(0.0, min(surging) + p.pod_start_s - now))
    if held_by:
        waits.append(HOLD_RECHECK_S)
    drop = _pool_drop_s(p, arrivals, ends, now, in_progress)
    if drop is not None:  # the pool shrinks with no event to say so: look again then
        waits.append(drop)
    recheck = min(waits) if waits else None

    busy = sum(1 for w in ready if w.active_calls >= p.calls_per_worker)
    return Decision(
        desired=desired,
        raw_desired=raw,
        deletion_cost=deletion_costs(workers, now),
        recheck_after_s=recheck,
        active_calls=sum(w.active_calls for w in workers) + max(0, pending_calls),
        idle=len(ready) - busy,
        busy=busy,
        ready=len(ready),
        surge=surge,
        held_by=held_by,
        warm_target=warm,
        arrival_rate=rate,
    )
