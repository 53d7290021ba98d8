"""Call arrival (and end) rates on several time scales: quick to see a burst, slow to forget it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Time constants of the decayed counts, in seconds. The shortest sees a burst within seconds;
# the longest remembers the traffic of the last several minutes, so one quiet minute inside a
# busy hour does not empty the warm pool.
TIME_SCALES_S: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0)
# A short scale overrides the longer ones only by this many of its own standard deviations:
# its noise alone (a Poisson count over ~10 s) would otherwise inflate the pool on every
# chance cluster of calls.
SIGNIFICANCE = 1.0
# How long a burst is remembered: the peak of the short-scale estimate decays with this time
# constant, so traffic that came in bursts keeps a pool sized for the last burst for a while.
BURST_MEMORY_S = 600.0
# Only a burst this many standard deviations above the long view is remembered: the highest of
# an hour of ordinary noise would otherwise be held as if it were a burst.
BURST_SIGNIFICANCE = 2.0
# Rates below this (one call in twelve days) are 0: the decayed counts only approach 0, and a
# pool sized from a vanishing rate would keep its one worker until the float underflows.
RESOLUTION = 1e-6


@dataclass
class EventRate:
    """Exponentially decayed arrival counts, one per time scale; `now` is always passed in.

    A count at scale tau decays as exp(-dt / tau) and adds 1 per arrival, so count / tau is an
    unbiased rate estimate of a steady Poisson stream with variance rate / (2 tau). `rate()` is
    the longest scale's estimate, raised by a shorter scale only where that one is above it by
    `SIGNIFICANCE` standard deviations (after subtracting them): a step up shows within the
    shortest scale, and the estimate falls back to the long view as the burst decays.
    """

    # When observation began (the fleet's creation): until a scale has seen `tau` seconds of
    # history its count is divided by the time it has seen instead, as an EWMA's start-up bias
    # correction does, so a new VoiceAgent's first minutes are not read as a quiet line.
    origin: float | None = None
    scales: tuple[float, ...] = TIME_SCALES_S
    memory_s: float = BURST_MEMORY_S
    counts: list[float] = field(default_factory=list)
    at: float | None = None  # when `counts` and `peak` were last brought up to date
    peak: float = 0.0  # the highest significant rate seen, decayed by `memory_s`

    def __post_init__(self) -> None:
        if not self.scales or any(not (tau > 0 and math.isfinite(tau)) for tau in self.scales):
            raise ValueError("time scales must be positive and finite")
        if not self.counts:
            self.counts = [0.0] * len(self.scales)

    def _decayed(self, now: float) -> list[float]:
        if self.at is None:
            return list(self.counts)
        dt = max(0.0, now - self.at)  # a clock that steps back never inflates a count
        return [c * math.exp(-dt / tau) for c, tau in zip(self.counts, self.scales, strict=True)]

    def observe(self, now: float, arrivals: int = 1) -> None:
        """Record `arrivals` calls that started at `now` (a time not before the last one)."""
        if arrivals < 0:
            raise ValueError("arrivals must be >= 0")
        self.peak = self._peak(now)
        counts = self._decayed(now)
        self.counts = [c + arrivals for c in counts]
        self.at = now if self.at is None else max(self.at, now)
        self.peak = max(self.peak, self._current(now, BURST_SIGNIFICANCE))

    def _peak(self, now: float) -> float:
        if self.at is None or self.memory_s <= 0:
            return 0.0
        return self.peak * math.exp(-max(0.0, now - self.at) / self.memory_s)

    def rates(self, now: float) -> list[float]:
        """The plain estimate of each scale, calls per second."""
        seen = math.inf if self.origin is None else max(0.0, now - self.origin)
        out = []
        for c, tau in zip(self._decayed(now), self.scales, strict=True):
            # The weight the scale has had time to gather: tau in the long run.
            weight = tau * -math.expm1(-seen / tau) if math.isfinite(seen) else tau
            out.append(c / max(weight, min(tau, 10.0)))
        return out

    def rate(self, now: float, horizon_s: float = 0.0) -> float:
        """The estimate the warm pool is sized from, calls per second (>= 0, finite).

        `horizon_s` is how far ahead the pool must cover (one pod start): a scale shorter than
        half of it is ignored, since a spike that ends before a pod could start is noise to a
        pool that must cover the whole horizon, and reacting to it only starts pods in vain.
        """
        best = max(self._current(now, SIGNIFICANCE, horizon_s), self._peak(now))
        return best if math.isfinite(best) and best >= RESOLUTION else 0.0

    def floor_rate(self, now: float, horizon_s: float = 0.0) -> float:
        """A low estimate: the least of the scales not shorter than half of `horizon_s`.

        For call ends, whose freed workers the pool counts on: crediting more ends than come
        would leave calls cold, crediting fewer only keeps a worker more."""
        rates = self.rates(now)
        usable = [r for tau, r in zip(self.scales, rates, strict=True) if tau >= horizon_s / 2]
        best = min(usable or rates[-1:])
        return best if math.isfinite(best) and best >= RESOLUTION else 0.0

    def floor_rate_held(self, horizon_s: float = 0.0) -> float:
        """`floor_rate` as of the last observation, held until the next one (0 before any).

        For the credit of call ends between events: call durations are memoryless enough that
        a silence says nothing new about when the calls in progress end, and a credit that
        faded faster than the arrival estimate would raise the pool again in a quiet period,
        with no event to make the scaler look (see `policy.end_credit`)."""
        return 0.0 if self.at is None else self.floor_rate(self.at, horizon_s)

    def _current(self, now: float, z: float, horizon_s: float = 0.0) -> float:
        """The long scale's estimate, raised by a shorter one that is `z` deviations above."""
        per_scale = self.rates(now)
        best = per_scale[-1]
        for tau, r in zip(self.scales[:-1], per_scale[:-1], strict=True):
            if tau >= horizon_s / 2:
                best = max(best, r - z * math.sqrt(r / (2 * tau)))
        return best
