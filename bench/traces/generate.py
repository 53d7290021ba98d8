"""Generate the shipped call-arrival traces, seeded: `python -m bench.traces.generate [DIR]`.

- steady.csv: Poisson arrivals at 0.2 calls/s for one hour, calls of 2-5 min.
- bursty.csv: a 0.05 calls/s Poisson background for one hour plus six spikes of 20-40 calls
  each arriving within one minute (a campaign, an outage), calls of 2-5 min.
"""

from __future__ import annotations

import csv
import random
import sys
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
