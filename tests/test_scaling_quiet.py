"""A quiet period lowers the predictive warm pool: monotone between events, down to warm.min,
and the decision's recheck lands where the pool next shrinks (injected clock throughout)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import pytest
from switchboard.scaling import Decision, PredictiveWarm, ScalingParams, WorkerState, decide
from switchboard.scaling.policy import REACTION_S, end_credit
from switchboard.scaling.rate import EventRate
from switchboard.scaling.warm import DROP_LOOKAHEAD_S, covering_pool

from tests.test_scaling_warm import PARAMS as WARM_PARAMS

pytestmark = pytest.mark.unit

# The warm-pool tests' fleet, with the shipped default coverage and a lower cap.
PARAMS = dataclasses.replace(
    WARM_PARAMS, predictive=PredictiveWarm(coverage=0.999, minimum=1, maximum=40)
)
# The bisection of next_drop_s stops within this of the moment.
DROP_TOLERANCE_S = 0.05


@dataclasses.dataclass
class Line:
    """One VoiceAgent's view: the estimators and the calls in progress, fed event by event.

    Every worker in the fleet is busy (one call each) or gone, so the decision's only recheck
    is the pool's own drop (no idle worker waits for its scale-down delay)."""

    params: ScalingParams = PARAMS
    arrivals: EventRate = dataclasses.field(default_factory=lambda: EventRate(origin=0.0))
    ends: EventRate = dataclasses.field(default_factory=lambda: EventRate(origin=0.0))
    calls: int = 0

    def start(self, t: float, n: int = 1) -> None:
        self.arrivals.observe(t, n)
        self.calls += n

    def end(self, t: float, n: int = 1) -> None:
        self.ends.observe(t, n)
        self.calls -= n

    def decide(self, t: float) -> Decision:
        workers = [WorkerState(f"w{i}", True, 1, None) for i in range(self.calls)]
        return decide(workers, self.calls, self.params, t, arrivals=self.arrivals, ends=self.ends)


def check_quiet_until(line: Line, t0: float, t1: float, samples: int = 60) -> None:
    """From the event at t0 until just before t1 nothing happens: the pool must not rise, its
    figures stay sane, and the recheck of the decision at t0 is where it first falls."""
    d0 = line.decide(t0)
    w = line.params.predictive
    assert w is not None
    # Sampled densely near t0 (the short scales) and geometrically after (the long ones).
    span = t1 - t0
    grid = sorted({t0 + span * (k / samples) ** 3 for k in range(samples)} | {t0})
    targets = []
    for t in grid:
        d = line.decide(t)
        assert math.isfinite(d.arrival_rate) and d.arrival_rate >= 0, (t, d.arrival_rate)
        assert w.minimum <= d.warm_target <= w.maximum
        assert d.desired >= line.calls  # the calls in progress always keep their workers
        targets.append(d.warm_target)
    assert all(a >= b for a, b in itertools.pairwise(targets)), (t0, targets)
    if d0.warm_target == w.minimum:
        assert d0.recheck_after_s is None  # nothing left to lower: no wake-up
        return
    drop = d0.recheck_after_s
    assert drop is not None and drop > 0, d0
    if drop >= DROP_LOOKAHEAD_S:  # it falls only later: the scaler looks again in an hour
        assert line.decide(t0 + drop).warm_target <= d0.warm_target
        return
    assert line.decide(t0 + drop).warm_target < d0.warm_target
    assert line.decide(max(t0, t0 + drop - DROP_TOLERANCE_S - 0.01)).warm_target == d0.warm_target
    # Nothing sampled before the recheck is lower: the scaler would have missed that drop.
    early = t0 + drop - DROP_TOLERANCE_S
    assert all(x == d0.warm_target for t, x in zip(grid, targets, strict=True) if t < early)


def settle(line: Line, t0: float, horizon_s: float = 10**5) -> list[tuple[float, int]]:
    """Follow the rechecks from t0 with no event at all: (time, target) until warm.min."""
    t, seen = t0, []
    for _ in range(200):
        d = line.decide(t)
        seen.append((t, d.warm_target))
        if d.recheck_after_s is None or t > t0 + horizon_s:
            break
        t += d.recheck_after_s
    return seen


def test_after_a_burst_the_pool_decays_to_its_minimum_on_rechecks_alone() -> None:
    line = Line()
    for k in range(60):  # 60 calls within two seconds, as the e2e test sends them
        line.start(100.0 + k / 30)
    burst = line.decide(102.0)
    assert burst.warm_target == 40  # at warm.max
    for k in range(60):  # they all end within a second, a minute later
        line.end(160.0 + k / 60)
    assert line.calls == 0
    after = line.decide(161.0)
    assert 1 < after.warm_target <= burst.warm_target
    steps = settle(line, 161.0)
    targets = [x for _, x in steps]
    # warm.min within a few burst memories (BURST_MEMORY_S), every wake-up a step down.
    assert targets[-1] == 1 and steps[-1][0] - 161.0 < 3 * 3600, steps
    assert all(a > b for a, b in itertools.pairwise(targets)), steps
    check_quiet_until(line, 161.0, steps[-1][0] + 60)


def test_the_end_credit_is_held_between_events_and_bounded_by_the_calls() -> None:
    ends = EventRate(origin=0.0)
    assert end_credit(ends, 11.0, 5) == 0.0  # no call has ended yet
    for k in range(30):
        ends.observe(10.0 * k)
    held = end_credit(ends, 11.0, 100)
    assert held == pytest.approx(ends.floor_rate(290.0, 11.0)) and held > 0
    assert end_credit(ends, 11.0, 100) == held  # no clock in it: constant until the next end
    assert end_credit(ends, 11.0, 1) == pytest.approx(min(held, 1 / 11.0))
    assert end_credit(ends, 11.0, 0) == 0.0  # no call in progress: nothing can free a worker
    assert end_credit(None, 11.0, 5) == 0.0


@pytest.mark.parametrize("mean_freed", [0.0, 0.5, 3.0, 20.0])
@pytest.mark.parametrize("coverage", [0.99, 0.999])
def test_the_pool_never_falls_as_the_arrival_mean_grows(mean_freed: float, coverage: float) -> None:
    # What makes the decay monotone: with the credit held, the pool is monotone in the mean.
    means = [0.01 * 1.15**k for k in range(60)]
    pools = [covering_pool(m, coverage, mean_freed) for m in means]
    assert pools == sorted(pools), pools


@pytest.mark.parametrize("seed", range(10))
def test_property_quiet_periods_never_raise_the_pool(seed: int) -> None:
    """Random fleets: background traffic, a burst, calls of random lengths ending during the
    quiet that follows. Between any two events the pool never rises, the recheck finds its
    next drop, and after the last call it reaches warm.min on rechecks alone."""
    rng = random.Random(seed)
    params = dataclasses.replace(
        PARAMS,
        pod_start_s=rng.choice([1.0, 10.0, 30.0, 60.0]),
        predictive=PredictiveWarm(
            coverage=rng.choice([0.9, 0.99, 0.999]),
            minimum=rng.choice([0, 1, 3]),
            maximum=rng.choice([5, 40, 200]),
        ),
    )
    line = Line(params)
    events: list[tuple[float, int]] = []  # (time, +1 start / -1 end)
    t = 0.0
    background = rng.uniform(0.005, 0.3)
    while (t := t + rng.expovariate(background)) < 600.0:
        events.append((t, 1))
    burst_at, size = 600.0 + rng.uniform(0, 60), rng.randint(5, 120)
    events += [(burst_at + rng.uniform(0, rng.choice([1.0, 10.0, 60.0])), 1) for _ in range(size)]
    starts = sorted(s for s, _ in events)
    events += [(s + rng.expovariate(1 / rng.choice([20.0, 90.0, 400.0])), -1) for s in starts]
    events.sort()
    last_start = starts[-1]
    for (at, kind), (nxt, _) in zip(events, [*events[1:], (math.inf, 0)], strict=True):
        if kind > 0:
            line.start(at)
        else:
            line.end(at)
        if at >= last_start:  # the quiet: only call ends from here on
            check_quiet_until(line, at, nxt if math.isfinite(nxt) else at + 7200.0, samples=12)
    assert line.calls == 0
    w = params.predictive
    assert w is not None
    final = settle(line, events[-1][0])
    assert final[-1][1] == w.minimum, final
    assert all(a >= b for (_, a), (_, b) in itertools.pairwise(final))


def test_the_credit_no_longer_fades_under_the_arrival_memory() -> None:
    # The flaw this fixes: calls started and ended steadily, then a silence with ~30 calls
    # still in progress. The end credit used to fade within its 10 s scale while arrivals
    # are remembered for minutes, so the pool rose again seconds into the silence, and the
    # scaler, not woken for a rise, never saw it.
    line, rng, t = Line(), random.Random(3), 0.0
    events: list[tuple[float, int]] = []
    while (t := t + rng.expovariate(0.5)) < 1200.0:
        events += [(t, 1), (t + 60.0, -1)]
    last = 0.0
    for at, kind in sorted(events):
        if at > 1200.0:
            break  # the silence: nothing more starts or ends
        line.start(at) if kind > 0 else line.end(at)
        last = at
    assert line.calls > 10
    horizon = PARAMS.pod_start_s + REACTION_S
    assert end_credit(line.ends, horizon, line.calls) > 0
    check_quiet_until(line, last, last + 900.0)


def test_a_pool_held_at_its_maximum_still_wakes_the_scaler() -> None:
    # A flood holds the pool at warm.max for longer than the look-ahead: the decision still
    # asks to be woken (after the look-ahead) instead of never, and the pool does fall later.
    line = Line()
    line.start(0.0, 20_000)
    line.end(0.0, 20_000)
    d = line.decide(1.0)
    assert d.warm_target == 40 and d.recheck_after_s == DROP_LOOKAHEAD_S
    steps = settle(line, 1.0, horizon_s=10 * 3600)
    assert steps[-1][1] == 1, steps
