"""Call-arrival traces, seeded: `python -m bench.traces.generate [DIR]` writes the shipped ones.

Shipped (the CSVs next to this file):
- steady.csv: Poisson arrivals at 0.2 calls/s for one hour, calls of 2-5 min.
- bursty.csv: a 0.05 calls/s Poisson background for one hour plus six spikes of 20-40 calls
  each arriving within one minute (a campaign, an outage), calls of 2-5 min.

Generated on demand by `KINDS[kind](seed)` (`python -m bench.scaling --generate KIND --seed N`),
so that a policy can be tuned on some seeds and kinds and judged on others:
- campaign: two hours of a thin background with 3-6 sharp dialler bursts of 15-60 calls, each
  within 20-90 s, short calls (a reminder campaign).
- business-day: eight hours of a rate that follows a working day, a morning peak and a lunch
  peak at seed-dependent heights and times, calls of 1-10 min (a clinic's front desk).
- flash-crowd: two hours of a steady background whose rate climbs 10x within 30 s once or twice,
  holds for minutes and decays (an outage, a TV spot).
"""

from __future__ import annotations

import csv
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOUR_S = 3600.0
MIN_CALL_S, MAX_CALL_S = 120.0, 300.0


def poisson(rng: random.Random, rate: float, start: float, end: float) -> list[float]:
    """Arrival times of a Poisson process of `rate` per second in [start, end)."""
    times: list[float] = []
    t = start
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return times
        times.append(t)


def steady(seed: int = 1) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(t, rng.uniform(MIN_CALL_S, MAX_CALL_S)) for t in poisson(rng, 0.2, 0.0, HOUR_S)]


def bursty(seed: int = 2, spikes: int = 6) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    starts = poisson(rng, 0.05, 0.0, HOUR_S)
    period = HOUR_S / spikes
    for k in range(spikes):
        at = period * k + rng.uniform(0.2, 0.7) * period  # somewhere in each 10-min slot
        size = rng.randint(20, 40)
        starts += [at + rng.uniform(0.0, 60.0) for _ in range(size)]
    return [(t, rng.uniform(MIN_CALL_S, MAX_CALL_S)) for t in sorted(starts)]


def thinned(
    rng: random.Random, rate_at: Callable[[float], float], peak: float, end: float
) -> list[float]:
    """Arrivals of a Poisson process whose rate varies as `rate_at(t) <= peak` (thinning)."""
    return [t for t in poisson(rng, peak, 0.0, end) if rng.random() * peak < rate_at(t)]


def campaign(seed: int = 11) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    end = 2 * HOUR_S
    starts = poisson(rng, rng.uniform(0.003, 0.01), 0.0, end)
    for _ in range(rng.randint(3, 6)):
        at, width = rng.uniform(0.0, end - 600.0), rng.uniform(20.0, 90.0)
        starts += [at + rng.uniform(0.0, width) for _ in range(rng.randint(15, 60))]
    return [(t, rng.uniform(40.0, 240.0)) for t in sorted(starts)]


def business_day(seed: int = 12) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    end = 8 * HOUR_S  # 09:00-17:00
    base = rng.uniform(0.02, 0.04)
    peaks = [  # (centre s, width s, extra calls/s): a morning and a lunch peak
        (rng.uniform(0.6, 1.6) * HOUR_S, rng.uniform(0.4, 0.8) * HOUR_S, rng.uniform(0.06, 0.14)),
        (rng.uniform(3.2, 4.0) * HOUR_S, rng.uniform(0.2, 0.5) * HOUR_S, rng.uniform(0.04, 0.1)),
    ]

    def rate_at(t: float) -> float:
        ramp = min(1.0, t / 900.0, (end - t) / 1800.0)  # opening and closing
        bumps = sum(h * math.exp(-(((t - c) / w) ** 2)) for c, w, h in peaks)
        return max(0.0, ramp) * (base + bumps)

    starts = thinned(rng, rate_at, base + sum(h for _, _, h in peaks), end)
    return [(t, min(600.0, 60.0 + rng.expovariate(1 / 150.0))) for t in starts]


def flash_crowd(seed: int = 13) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    end = 2 * HOUR_S
    base = rng.uniform(0.02, 0.05)
    crowds = sorted(rng.uniform(900.0, end - 1800.0) for _ in range(rng.randint(1, 2)))
    hold = rng.uniform(120.0, 300.0)

    def rate_at(t: float) -> float:
        factor = 1.0
        for at in crowds:
            if at <= t < at + 30.0:  # 10x within 30 s ...
                factor = max(factor, 1.0 + 9.0 * (t - at) / 30.0)
            elif at + 30.0 <= t < at + 30.0 + hold:  # ... held for minutes ...
                factor = max(factor, 10.0)
            elif t >= at + 30.0 + hold:  # ... and decaying over about five
                factor = max(factor, 1.0 + 9.0 * math.exp(-(t - at - 30.0 - hold) / 300.0))
        return base * factor

    starts = thinned(rng, rate_at, 10 * base, end)
    return [(t, rng.uniform(60.0, 300.0)) for t in starts]


KINDS: dict[str, Callable[[int], list[tuple[float, float]]]] = {
    "steady": steady,
    "bursty": bursty,
    "campaign": campaign,
    "business-day": business_day,
    "flash-crowd": flash_crowd,
}


def write(path: Path, calls: list[tuple[float, float]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["start_s", "duration_s"])
        out.writerows([f"{s:.3f}", f"{d:.3f}"] for s, d in calls)
    print(f"wrote {path} ({len(calls)} calls)")


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else HERE
    write(target / "steady.csv", steady())
    write(target / "bursty.csv", bursty())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
