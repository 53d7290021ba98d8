"""The predictive warm pool: the rate estimator, the coverage math and the decision bounds."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from switchboard.api.voiceagent import Scaling
from switchboard.scaling import PredictiveWarm, ScalingParams, WorkerState, decide
from switchboard.scaling.policy import REACTION_S
from switchboard.scaling.rate import EventRate
from switchboard.scaling.warm import covering_pool, next_drop_s, poisson_quantile, warm_target

from bench.scaling_limit import limit_worker_seconds

pytestmark = pytest.mark.unit

WARM = PredictiveWarm(coverage=0.995, minimum=1, maximum=50)
PARAMS = ScalingParams(
    calls_per_worker=1,
    warm_workers=1,
    min_workers=0,
    max_workers=1000,
    scale_down_delay_s=30.0,
    pod_start_s=10.0,
    predictive=WARM,
)


def steady(rate: float, seconds: float, seed: int = 1, start: float = 0.0) -> EventRate:
    """An estimator fed a Poisson stream of `rate` for `seconds` (injected clock)."""
    rng, est, t = random.Random(seed), EventRate(), start
    while (t := t + rng.expovariate(rate)) < start + seconds:
        est.observe(t)
    return est


# -- the rate estimator ---------------------------------------------------------------------
def test_a_steady_stream_is_estimated_near_its_rate() -> None:
    est = steady(0.2, 3600.0)
    assert 0.15 < est.rate(3600.0) < 0.3


def test_a_step_up_shows_within_seconds() -> None:
    est = steady(0.05, 1800.0)
    before = est.rate(1800.0)
    for k in range(20):  # 2 calls a second from 1800 s on
        est.observe(1800.0 + k / 2)
    assert est.rate(1810.0) > 10 * before  # ten seconds into the burst: 20x the background
    assert est.rate(1810.0) > 0.8


def test_a_burst_is_forgotten_in_minutes_without_going_negative() -> None:
    est = EventRate()
    for k in range(60):
        est.observe(k / 3)
    peak = est.rate(20.0)
    later = [est.rate(20.0 + dt) for dt in (10, 60, 300, 900, 1800, 3600, 10**9)]
    assert all(a >= b for a, b in zip([peak, *later], later, strict=False)), "decays monotonically"
    assert later[3] < peak / 2 and later[5] < peak / 100
    assert all(r >= 0 and math.isfinite(r) for r in later)
    assert est.rate(20.0 + 10**9) == 0.0


def test_no_negative_or_nan_rates_on_odd_input() -> None:
    est = EventRate()
    assert est.rate(0.0) == 0.0  # nothing seen yet
    est.observe(100.0, arrivals=0)
    est.observe(100.0, arrivals=5)
    est.observe(50.0)  # the clock stepped back: the counts never inflate
    assert math.isfinite(est.rate(40.0)) and est.rate(40.0) >= 0
    assert est.rate(1e300) == 0.0
    with pytest.raises(ValueError, match="arrivals"):
        est.observe(101.0, arrivals=-1)
    with pytest.raises(ValueError, match="time scales"):
        EventRate(scales=(10.0, 0.0))


@pytest.mark.parametrize("seed", [1, 7, 9])
def test_noise_does_not_inflate_a_steady_estimate(seed: int) -> None:
    # The short scales override the long one only when significantly above it, and only a
    # strongly significant peak is remembered: on an hour of steady traffic the estimate is
    # unbiased in the median and within 2x of the true rate 95 % of the time. (A chance
    # cluster still lifts it for seconds: reacting that fast is the point.)
    rng, est, t, seen = random.Random(seed), EventRate(), 0.0, []
    while (t := t + rng.expovariate(0.2)) < 3600.0:
        est.observe(t)
        if t > 900:
            seen.append(est.rate(t))
    seen.sort()
    assert 0.17 < seen[len(seen) // 2] < 0.24
    assert seen[int(0.95 * len(seen))] < 0.4 and seen[0] > 0.1


# -- coverage ---------------------------------------------------------------------------------
def pmf(mean: float, n: int) -> float:
    return math.exp(n * math.log(mean) - mean - math.lgamma(n + 1)) if mean else float(n == 0)


def direct_quantile(mean: float, coverage: float) -> int:
    k, cdf = 0, pmf(mean, 0)
    while cdf < coverage:
        k += 1
        cdf += pmf(mean, k)
    return k


def direct_cover(mean: float, coverage: float) -> int:
    """The smallest k serving E[min(N, k)] >= coverage * mean, summed term by term."""
    top = int(mean + 20 * math.sqrt(mean) + 30)
    for k in range(top):
        served = sum(min(n, k) * pmf(mean, n) for n in range(top))
        if served >= coverage * mean - 1e-12:
            return k
    raise AssertionError("unreachable")


@pytest.mark.parametrize("mean", [0.01, 0.1, 0.5, 1.0, 2.2, 5.0, 11.0, 40.0, 150.0, 480.0])
@pytest.mark.parametrize("coverage", [0.9, 0.99, 0.995, 0.999])
def test_the_quantile_math_matches_a_direct_poisson_sum(mean: float, coverage: float) -> None:
    assert poisson_quantile(mean, coverage) == direct_quantile(mean, coverage)
    assert covering_pool(mean, coverage) == direct_cover(mean, coverage)


@pytest.mark.parametrize("mean", [600.0, 2000.0])
def test_large_means_use_a_normal_approximation_within_a_worker(mean: float) -> None:
    assert abs(poisson_quantile(mean, 0.995) - direct_quantile(mean, 0.995)) <= 1
    assert abs(covering_pool(mean, 0.995) - direct_cover(mean, 0.995)) <= 1


def test_covering_calls_needs_more_than_the_window_quantile_at_low_rates() -> None:
    # At 0.1 calls per pod start the 99 % window quantile is one worker, which leaves 4.5 % of
    # the calls cold; covering 99 % of the calls takes two.
    assert poisson_quantile(0.1, 0.99) == 1 and covering_pool(0.1, 0.99) == 2
    assert covering_pool(0.0, 0.99) == 0


def test_bad_coverage_or_mean_is_refused() -> None:
    for mean, coverage in ((1.0, 1.0), (1.0, 0.0), (-1.0, 0.9), (math.nan, 0.9)):
        with pytest.raises(ValueError, match=r"coverage|mean"):
            covering_pool(mean, coverage)


def test_warm_target_clamps_and_the_drop_is_found() -> None:
    assert warm_target(0.0, 11.0, 0.995, 1, 50) == 1  # min
    assert warm_target(100.0, 11.0, 0.995, 1, 50) == 50  # max
    est = EventRate()
    for k in range(30):
        est.observe(k / 10)
    target = warm_target(est.rate(3.0), 11.0, 0.995, 1, 50)
    drop = next_drop_s(lambda dt: est.rate(3.0 + dt), 11.0, 0.995, 1, 50)
    assert drop is not None and drop > 0
    assert warm_target(est.rate(3.0 + drop), 11.0, 0.995, 1, 50) < target
    assert warm_target(est.rate(3.0 + drop - 0.1), 11.0, 0.995, 1, 50) == target
    assert next_drop_s(lambda dt: 0.0, 11.0, 0.995, 1, 50) is None  # already at the minimum


# -- the decision -----------------------------------------------------------------------------
def idle(n: int, since: float = 0.0) -> list[WorkerState]:
    return [WorkerState(f"w{i}", True, 0, since) for i in range(n)]


def test_predictive_pool_follows_the_rate_within_its_bounds() -> None:
    quiet = decide(idle(1), 1, PARAMS, 100.0, arrivals=EventRate())
    assert (quiet.warm_target, quiet.desired, quiet.arrival_rate) == (1, 1, 0.0)  # warm.min
    busy = steady(0.5, 600.0)
    d = decide(idle(1), 1, PARAMS, 600.0, arrivals=busy)
    expected = covering_pool(d.arrival_rate * (PARAMS.pod_start_s + REACTION_S), 0.995)
    assert d.warm_target == expected > 5 and d.raw_desired == expected
    flood = EventRate()
    flood.observe(0.0, arrivals=10_000)
    assert decide(idle(1), 1, PARAMS, 0.0, arrivals=flood).warm_target == WARM.maximum


def test_predictive_respects_max_workers_and_calls_per_worker() -> None:
    est = steady(0.5, 600.0)
    capped = dataclasses.replace(PARAMS, max_workers=4)
    assert decide(idle(1), 1, capped, 600.0, arrivals=est).desired == 4
    shared = dataclasses.replace(PARAMS, calls_per_worker=4)
    d = decide(idle(1), 1, shared, 600.0, arrivals=est)
    assert d.raw_desired == math.ceil(d.warm_target / 4)
    floor = dataclasses.replace(PARAMS, min_workers=20)
    assert decide(idle(1), 1, floor, 600.0, arrivals=EventRate()).desired == 20


def test_predictive_has_no_surge_on_top_of_its_pool() -> None:
    # The pool already covers the calls of one pod start: recent starts add nothing.
    est = EventRate()
    est.observe(99.0, arrivals=3)
    with_starts = decide(idle(1), 1, PARAMS, 100.0, recent_starts=[99.0] * 3, arrivals=est)
    without = decide(idle(1), 1, PARAMS, 100.0, arrivals=est)
    assert with_starts.surge == 0 and with_starts.raw_desired == without.raw_desired
    fixed = dataclasses.replace(PARAMS, predictive=None)
    assert decide(idle(1), 1, fixed, 100.0, recent_starts=[99.0] * 3).surge == 3


def test_a_quiet_period_schedules_the_pool_to_shrink() -> None:
    est = EventRate()
    for k in range(40):
        est.observe(k / 4)
    d = decide(idle(20, since=0.0), 20, PARAMS, 10.0, arrivals=est)
    assert d.recheck_after_s is not None
    later = decide(idle(20, since=0.0), 20, PARAMS, 10.0 + d.recheck_after_s, arrivals=est)
    assert later.warm_target < d.warm_target


def test_from_spec_reads_the_warm_mode() -> None:
    spec = Scaling.model_validate(
        {"warm": {"mode": "predictive", "coverage": 0.99, "min": 2, "max": 30}}
    )
    params = ScalingParams.from_spec(spec, pod_start_s=12.0)
    assert params.predictive == PredictiveWarm(coverage=0.99, minimum=2, maximum=30)
    assert ScalingParams.from_spec(Scaling()).predictive is None  # fixed at warmWorkers
    fixed = Scaling.model_validate({"warm": {"mode": "fixed"}, "warmWorkers": 3})
    assert ScalingParams.from_spec(fixed).predictive is None
    with pytest.raises(ValueError, match="coverage"):
        PredictiveWarm(coverage=1.0, minimum=1, maximum=2)
    with pytest.raises(ValueError, match="minimum"):
        PredictiveWarm(coverage=0.9, minimum=3, maximum=2)


# -- the physical limit ---------------------------------------------------------------------
def test_the_physical_limit_reuses_the_latest_freed_worker() -> None:
    # A 0-10, B 2-12; C at 13 reuses B's worker (idle 1 s); D at 40 is a new pod (10 s start).
    trace = [(0.0, 10.0), (2.0, 10.0), (13.0, 5.0), (40.0, 5.0)]
    assert limit_worker_seconds(trace, 10.0, 1) == (10 + 10) + (10 + 10) + (5 + 1) + (5 + 10)
    assert limit_worker_seconds(trace, 10.0, 2) == 61 / 2
