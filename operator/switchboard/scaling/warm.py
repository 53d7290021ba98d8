"""How many idle workers cover the calls that arrive within one pod start: Poisson quantiles."""

from __future__ import annotations

import math
from collections.abc import Callable

# Beyond this many expected arrivals per pod start the normal approximation is used: the
# direct sum would need thousands of terms, and the two agree to a worker there.
_DIRECT_MAX_MEAN = 500.0
# How far ahead `next_drop_s` looks for the pool's next step down; beyond, it wakes up then.
DROP_LOOKAHEAD_S = 3600.0


def poisson_quantile(mean: float, coverage: float) -> int:
    """The smallest k with P(N <= k) >= coverage for N ~ Poisson(mean)."""
    _check(mean, coverage)
    if mean > _DIRECT_MAX_MEAN:
        z = _normal_quantile(coverage)
        # Continuity-corrected normal approximation, never below the mean's floor.
        return max(math.floor(mean), math.ceil(mean + z * math.sqrt(mean) - 0.5))
    term = math.exp(-mean)  # P(N = 0)
    cdf, k = term, 0
    while cdf < coverage:
        k += 1
        term *= mean / k
        cdf += term
    return k


def covering_pool(mean: float, coverage: float, freed: float = 0.0) -> int:
    """The fewest idle workers k that serve at least `coverage` of the calls of one pod start.

    N ~ Poisson(mean) calls arrive within the pod start while F ~ Poisson(freed) calls end and
    free their workers (which stay until idle long enough to be removed). Calls that find no
    worker number (N - F - k)+, so k is the smallest with E[(N - F - k)+] <= (1 - coverage) *
    E[N]. With freed = 0 that is E[min(N, k)] >= coverage * E[N].

    k never falls as `mean` grows with `freed` fixed: E[(N - F - k)+] - (1 - c) * mean is
    convex in the mean (d/dmean = P(N >= F + k) - (1 - c), which grows) and 0 at mean 0, so
    the means k serves form an interval [0, m_k], and m_k grows with k. A decaying arrival
    estimate therefore never raises the pool while the credit is held.

    This counts calls, not pod starts: the per-window quantile (`poisson_quantile`) leaves more
    calls cold than it promises, because the windows it gives up on are the crowded ones (at a
    mean of 0.1 the 99 % quantile is 1 worker, which serves only 95.5 % of the calls).
    """
    _check(mean, coverage)
    _check(freed, coverage)
    if mean == 0:
        return 0
    allowed = (1.0 - coverage) * mean
    if mean + freed > _DIRECT_MAX_MEAN:
        # Normal approximation of N - F: E[(D - k)+] = sigma * L((k - mu) / sigma), with the
        # standard normal loss L(z) = pdf(z) - z * (1 - cdf(z)), decreasing in z.
        mu, sigma = mean - freed, math.sqrt(mean + freed)
        z = _bisect(lambda x: sigma * _normal_loss(x) <= allowed)
        return max(0, math.ceil(mu + z * sigma))
    loss = _loss_table(mean)  # loss[j] = E[(N - j)+]
    ends = _pmf_table(freed)
    for k in range(len(loss)):
        short = sum(pf * loss[min(k + f, len(loss) - 1)] for f, pf in enumerate(ends))
        if short <= allowed:
            return k
    return len(loss)


def _pmf_table(mean: float) -> list[float]:
    """P(N = n) for N ~ Poisson(mean), n up to far in the tail (computed in log space)."""
    top = int(mean + 12 * math.sqrt(mean) + 20)
    if mean == 0:
        return [1.0]
    return [math.exp(n * math.log(mean) - mean - math.lgamma(n + 1)) for n in range(top)]


def _loss_table(mean: float) -> list[float]:
    """E[(N - j)+] for N ~ Poisson(mean) and j = 0, 1, ...; the last entry is ~0.

    Summed from the tail up, E[(N - j)+] = sum over n > j of P(N >= n), with no subtraction:
    at a tiny mean 1 - cdf cancels to 0 and the loss would never fall below the mean."""
    pmf = _pmf_table(mean)
    at_least = [0.0] * (len(pmf) + 1)  # at_least[n] = P(N >= n), within the table
    for n in range(len(pmf) - 1, -1, -1):
        at_least[n] = at_least[n + 1] + pmf[n]
    loss = [0.0] * (len(pmf) + 1)
    for j in range(len(pmf) - 1, -1, -1):
        loss[j] = loss[j + 1] + at_least[j + 1]
    return loss


def _check(mean: float, coverage: float) -> None:
    if not 0.0 < coverage < 1.0:
        raise ValueError("coverage must be in (0, 1)")
    if not math.isfinite(mean) or mean < 0:
        raise ValueError("mean must be finite and >= 0")


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _normal_loss(x: float) -> float:
    pdf = math.exp(-x * x / 2.0) / math.sqrt(2.0 * math.pi)
    return pdf - x * (1.0 - _normal_cdf(x))


def _bisect(enough: Callable[[float], bool]) -> float:
    """The smallest z in [-10, 10] with `enough(z)`, for a predicate monotone in z."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (exact enough for worker counts)."""
    return _bisect(lambda x: _normal_cdf(x) >= p)


def warm_target(
    rate_per_s: float,
    horizon_s: float,
    coverage: float,
    minimum: int,
    maximum: int,
    end_rate_per_s: float = 0.0,
) -> int:
    """Idle workers to keep: arrivals within `horizon_s` at `rate_per_s`, less the workers that
    calls ending at `end_rate_per_s` free meanwhile, covered at `coverage`, clamped into
    [minimum, maximum]."""
    horizon = max(0.0, horizon_s)
    need = covering_pool(
        max(0.0, rate_per_s) * horizon, coverage, max(0.0, end_rate_per_s) * horizon
    )
    return max(minimum, min(maximum, need))


def next_drop_s(
    rate_in: Callable[[float], float],
    horizon_s: float,
    coverage: float,
    minimum: int,
    maximum: int,
    end_rate_per_s: float = 0.0,
    within_s: float = DROP_LOOKAHEAD_S,
) -> float | None:
    """Seconds until the warm target falls below its value now if no call starts or ends;
    None if it is at `minimum` already, and `within_s` if it falls only later (look again then).

    `rate_in(dt)` is the arrival rate estimate `dt` seconds from now without new arrivals; it
    never rises as dt grows (every decayed count only shrinks), and with the end rate fixed
    the target is monotone in the arrival rate (`covering_pool`), so a bisection finds the
    moment. The end rate is fixed because the caller's credit is held between events
    (`policy.end_credit`): this is the target the next decision computes, not a guess. The
    scaler wakes up then: a quiet period lowers the pool although nothing happens.
    """

    def target(dt: float) -> int:
        return warm_target(rate_in(dt), horizon_s, coverage, minimum, maximum, end_rate_per_s)

    now_target = target(0.0)
    if now_target <= minimum:
        return None
    if target(within_s) >= now_target:
        return within_s  # e.g. held at `maximum` by a flood: it does fall, only later
    lo, hi = 0.0, within_s
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        if target(mid) < now_target:
            hi = mid
        else:
            lo = mid
    return hi
