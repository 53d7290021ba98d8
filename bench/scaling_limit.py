"""The physical limit of a trace: the fewest worker-seconds with which no call ever waits."""

from __future__ import annotations


def limit_worker_seconds(trace: list[tuple[float, float]], pod_start_s: float, cpw: int) -> float:
    """Worker-seconds of a clairvoyant fleet that never lets a call wait.

    Each call needs a free slot the moment it arrives. A slot freed by an earlier call can wait
    idle for it (costing the gap), or a new one can be started just in time (costing one pod
    start); a call gets min(gap, pod start). Giving each call the most recently freed slot is
    optimal: the cost is concave in the gap, so nesting the pairs beats crossing them. With
    `cpw` calls per worker a slot is 1/cpw of a worker, which makes this a lower bound there.
    """
    events = sorted([(s + d, 0, d) for s, d in trace] + [(s, 1, d) for s, d in trace])
    free: list[float] = []  # ends of freed slots, in time order: the top is the latest
    total = 0.0
    for t, kind, duration in events:
        if kind == 0:
            free.append(t)
            continue
        total += duration + (min(pod_start_s, t - free.pop()) if free else pod_start_s)
    return total / cpw
