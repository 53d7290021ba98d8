"""The pure scaling policy: golden cases, boundaries and properties over random fleets."""

from __future__ import annotations

import math
import random

import pytest
from switchboard.api.voiceagent import Scaling
from switchboard.scaling import (
    BUSY_COST_PER_CALL,
    ScalingParams,
    WorkerState,
    decide,
    deletion_costs,
    desired_workers,
)
from switchboard.scaling.policy import HOLD_RECHECK_S, INT32_MAX, INT32_MIN

pytestmark = pytest.mark.unit

NOW = 1_000.0


def params(cpw=1, warm=1, lo=0, hi=10, delay=30.0, pod_start=0.0) -> ScalingParams:
    return ScalingParams(cpw, warm, lo, hi, delay, pod_start)


def busy(name: str, calls: int = 1) -> WorkerState:
    return WorkerState(name, ready=True, active_calls=calls, idle_since=None)


def idle(name: str, for_s: float) -> WorkerState:
    return WorkerState(name, ready=True, active_calls=0, idle_since=NOW - for_s)


def starting(name: str) -> WorkerState:
    return WorkerState(name, ready=False, active_calls=0, idle_since=None)


def busy_not_ready(name: str, calls: int = 1) -> WorkerState:
    """A worker holding calls whose readiness fails (e.g. its LiveKit connection recovers)."""
    return WorkerState(name, ready=False, active_calls=calls, idle_since=None)


def test_from_spec_parses_the_go_duration_and_defaults() -> None:
    assert ScalingParams.from_spec(Scaling()) == ScalingParams(1, 1, 0, 10, 30.0)
    spec = Scaling.model_validate(
        {
            "callsPerWorker": 4,
            "warmWorkers": 3,
            "minWorkers": 2,
            "maxWorkers": 50,
            "scaleDownDelay": "1m30s",
        }
    )
    assert ScalingParams.from_spec(spec, pod_start_s=8.0) == ScalingParams(4, 3, 2, 50, 90.0, 8.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"cpw": 0}, {"warm": -1}, {"lo": -1}, {"delay": -1.0}, {"lo": 5, "hi": 4}, {"pod_start": -1}],
)
def test_params_reject_nonsense(kwargs) -> None:
    with pytest.raises(ValueError):
        params(**kwargs)


@pytest.mark.parametrize(
    ("calls", "p", "want"),
    [
        (0, params(), 1),  # the warm pool alone
        (5, params(), 6),
        (7, params(cpw=4), 2),  # ceil((7 + 1) / 4)
        (8, params(cpw=4), 3),  # ceil(9 / 4)
        (0, params(warm=0), 0),  # scale to zero
        (0, params(warm=0, lo=3), 3),  # min clamp
        (50, params(hi=10), 10),  # max clamp
        (-3, params(), 1),  # nonsense input is treated as no calls
    ],
)
def test_desired_workers_formula(calls, p, want) -> None:
    assert desired_workers(calls, p) == want


def test_scale_up_is_immediate() -> None:
    d = decide([busy("a"), busy("b"), busy("c")], 3, params(), NOW)
    assert (d.desired, d.raw_desired, d.recheck_after_s) == (4, 4, None)
    assert (d.active_calls, d.ready, d.busy, d.idle) == (3, 3, 3, 0)


def test_no_scale_down_before_the_delay_and_recheck_when_it_elapses() -> None:
    workers = [busy("a"), idle("b", 10), idle("c", 5), idle("d", 25)]
    d = decide(workers, 4, params(), NOW)
    assert d.raw_desired == 2
    assert d.desired == 4
    assert d.recheck_after_s == pytest.approx(5.0)  # d reaches 30 s of idleness first


def test_scale_down_only_by_the_workers_idle_long_enough() -> None:
    workers = [busy("a"), idle("b", 40), idle("c", 10), idle("d", 5)]
    d = decide(workers, 4, params(warm=0), NOW)
    assert (d.raw_desired, d.desired) == (1, 3)
    assert d.recheck_after_s == pytest.approx(20.0)
    # ... and b is the pod the ReplicaSet removes: the lowest cost, busy a the highest.
    assert min(d.deletion_cost, key=d.deletion_cost.__getitem__) == "b"
    assert max(d.deletion_cost, key=d.deletion_cost.__getitem__) == "a"


def test_scale_down_never_below_raw_desired() -> None:
    workers = [busy("a"), idle("b", 400), idle("c", 300), idle("d", 200)]
    d = decide(workers, 4, params(warm=1), NOW)
    assert (d.raw_desired, d.desired, d.recheck_after_s) == (2, 2, None)


def test_min_and_max_clamps() -> None:
    assert decide([idle("a", 99), idle("b", 99)], 2, params(warm=0, lo=2), NOW).desired == 2
    many = [busy(f"w{i}") for i in range(12)]
    d = decide(many, 12, params(hi=10), NOW)
    assert (d.raw_desired, d.desired) == (10, 10)
    assert decide([], 0, params(hi=3, warm=0), NOW, pending_calls=9).desired == 3


def test_calls_per_worker_above_one() -> None:
    workers = [busy("a", 2), busy("b", 1), idle("c", 100)]
    d = decide(workers, 3, params(cpw=2), NOW)
    assert (d.raw_desired, d.desired) == (2, 2)  # ceil((3 + 1) / 2); c goes
    assert (d.ready, d.busy, d.idle) == (3, 1, 2)  # b has spare capacity: idle in the status
    assert d.deletion_cost["a"] == 2 * BUSY_COST_PER_CALL > d.deletion_cost["b"] > 0
    assert d.deletion_cost["c"] < 0


def test_fragmented_workers_are_never_scaled_away() -> None:
    workers = [busy("a"), busy("b"), busy("c")]  # one call each, room for four
    d = decide(workers, 3, params(cpw=4, warm=0), NOW)
    assert (d.raw_desired, d.desired) == (1, 3)


def test_pending_calls_count_as_demand() -> None:
    d = decide([starting("a")], 1, params(warm=1), NOW, pending_calls=5)
    assert (d.desired, d.active_calls) == (6, 5)


def test_terminating_workers_keep_their_calls_out_of_the_replica_math() -> None:
    draining = WorkerState("old", ready=True, active_calls=3, idle_since=None, terminating=True)
    d = decide([draining, idle("a", 1)], 1, params(warm=1), NOW)
    assert (d.raw_desired, d.desired) == (1, 1)
    assert d.active_calls == 3
    assert d.ready == 1
    assert "old" not in d.deletion_cost


def test_surge_adds_a_worker_per_call_started_within_one_pod_start() -> None:
    p = params(warm=1, pod_start=10.0)
    starts = [NOW - 30, NOW - 12, NOW - 9, NOW - 2, NOW - 0.5]
    d = decide([busy("a"), busy("b"), busy("c"), idle("d", 0)], 4, p, NOW, recent_starts=starts)
    assert d.surge == 3
    assert d.raw_desired == 3 + 1 + 3
    assert d.desired == 7
    assert d.recheck_after_s == pytest.approx(1.0)  # the NOW - 9 start leaves the surge
    plain = decide([busy("a"), busy("b"), busy("c")], 3, params(warm=1), NOW, recent_starts=starts)
    assert (plain.surge, plain.raw_desired) == (0, 4)  # pod_start_s = 0 disables it


def test_scale_down_waits_longer_while_a_worker_starts() -> None:
    workers = [idle("a", 40), idle("b", 45), starting("c")]
    d = decide(workers, 3, params(warm=1), NOW)
    assert (d.raw_desired, d.desired) == (1, 3)
    assert d.recheck_after_s == pytest.approx(15.0)  # b reaches twice the delay
    d = decide([*workers[:2], starting("c"), idle("e", 70)], 4, params(warm=1), NOW)
    assert d.desired == 3  # e has been idle more than twice the delay
    assert decide(workers[:2], 2, params(warm=1), NOW).desired == 1  # nothing starting


def test_no_scale_down_while_a_busy_worker_is_not_ready() -> None:
    """The ReplicaSet removes not-ready pods first, whatever their deletion cost: scaling
    down by one here would remove `a` and cut its call. Before the hold: desired 1."""
    workers = [busy_not_ready("a"), idle("b", 400), idle("c", 400)]
    d = decide(workers, 3, params(warm=0), NOW)
    assert (d.raw_desired, d.desired) == (1, 3)
    assert d.held_by == ("a",)
    assert d.recheck_after_s == HOLD_RECHECK_S  # its report may go stale without an event
    assert d.deletion_cost["a"] > 0 > d.deletion_cost["b"]  # still ranked last among peers
    # once it is ready again the idle workers go as usual
    recovered = decide([busy("a"), *workers[1:]], 3, params(warm=0), NOW)
    assert (recovered.desired, recovered.held_by, recovered.recheck_after_s) == (1, (), None)


def test_the_busy_not_ready_hold_blocks_only_scale_down() -> None:
    p = params(warm=1)
    up = decide([busy_not_ready("a"), busy("b")], 2, p, NOW, pending_calls=2)
    assert (up.desired, up.held_by) == (5, ())  # scale-up is never held
    # a starting pod (no call) is the starting-pod rule's business, not a hold
    assert decide([starting("a"), idle("b", 400), idle("c", 400)], 3, p, NOW).desired == 1
    # a draining busy pod has left the ReplicaSet already: nothing to protect
    draining = WorkerState("a", ready=False, active_calls=1, idle_since=None, terminating=True)
    assert decide([draining, idle("b", 400), idle("c", 400)], 2, p, NOW).desired == 1
    # maxWorkers lowered below the fleet still wins (documented: busy pods drain)
    over = [busy_not_ready("a"), *(idle(f"i{n}", 400) for n in range(4))]
    assert decide(over, 5, params(hi=3), NOW).desired == 3


def test_deletion_costs_order_and_stability() -> None:
    workers = [busy("a", 3), busy("b"), idle("c", 500), idle("d", 5), starting("e")]
    costs = deletion_costs(workers, NOW)
    assert costs["e"] == INT32_MIN
    assert costs["e"] <= costs["c"] < costs["d"] < 0 < costs["b"] < costs["a"]
    assert costs == deletion_costs(workers, NOW + 3600)  # depends on idle_since, not on now
    epoch = WorkerState("x", ready=True, active_calls=0, idle_since=1.7e9)
    assert INT32_MIN <= deletion_costs([epoch], 1.7e9)["x"] < 0
    assert deletion_costs([busy("z", 10_000)], NOW)["z"] == INT32_MAX


def random_fleet(rng: random.Random) -> tuple[list[WorkerState], int, ScalingParams, int]:
    cpw = rng.choice([1, 1, 2, 4])
    lo = rng.randint(0, 5)
    p = ScalingParams(
        cpw,
        rng.randint(0, 6),
        lo,
        rng.randint(max(lo, 1), 40),
        rng.choice([0.0, 30.0, 120.0]),
        rng.choice([0.0, 10.0]),
    )
    workers = []
    for i in range(rng.randint(0, 30)):
        ready = rng.random() < 0.85
        # some busy workers are not ready (a LiveKit reconnect): a scale-down must spare them
        calls = rng.randint(0, cpw) if (ready or rng.random() < 0.3) and rng.random() < 0.6 else 0
        since = NOW - rng.uniform(0, 300) if ready and calls == 0 else None
        workers.append(WorkerState(f"w{i}", ready, calls, since, rng.random() < 0.1))
    live = sum(1 for w in workers if not w.terminating)
    return workers, live, p, rng.choice([0, 0, 0, rng.randint(1, 10)])


@pytest.mark.parametrize("seed", range(20))
def test_properties_over_random_fleets(seed) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        workers, current, p, pending = random_fleet(rng)
        starts = [NOW - rng.uniform(0, 30) for _ in range(rng.randint(0, 5))]
        d = decide(workers, current, p, NOW, pending_calls=pending, recent_starts=starts)
        live = [w for w in workers if not w.terminating]
        demand = sum(w.active_calls for w in live) + pending

        assert p.min_workers <= d.desired <= p.max_workers
        assert d.desired >= min(p.max_workers, math.ceil(demand / p.calls_per_worker))
        assert d.desired >= d.raw_desired
        assert d.recheck_after_s is None or d.recheck_after_s >= 0
        assert d.ready == d.idle + d.busy == sum(1 for w in live if w.ready)

        eligible = [
            w
            for w in live
            if w.ready
            and w.active_calls == 0
            and NOW - (w.idle_since or NOW) >= p.scale_down_delay_s
        ]
        if d.desired < current and current <= p.max_workers:
            assert current - d.desired <= len(eligible)
            # The pods the ReplicaSet removes never carry a call. It ranks not-ready pods
            # first, and only then by deletion cost (controller.ActivePodsWithRanks).
            ranked = sorted(live, key=lambda w: (w.ready, d.deletion_cost[w.name]))
            removed = ranked[: current - d.desired]
            assert all(w.active_calls == 0 for w in removed)

        with_calls = [d.deletion_cost[w.name] for w in live if w.active_calls]
        without = [d.deletion_cost[w.name] for w in live if not w.active_calls]
        assert not with_calls or not without or min(with_calls) > max(without)
        ranked = sorted(
            (w for w in live if w.ready and not w.active_calls), key=lambda w: w.idle_since or NOW
        )
        costs = [d.deletion_cost[w.name] for w in ranked]
        assert costs == sorted(costs)  # longer idle, lower (or equal) cost
