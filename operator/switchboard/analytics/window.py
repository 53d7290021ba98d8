"""Rolling call aggregates for a VoiceAgent's status: the last hour and the last day.

Pure: points in, the status fragment out. Time is the operator's own monotonic clock at the
summary's arrival (a worker's clock may be off; the window must not be). The window lives in
memory: after an operator restart it refills as calls end (the call log keeps the last N).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from switchboard_contract.analytics import CallSummary

WINDOWS = (("lastHour", 3600.0), ("last24h", 86400.0))
# Per VoiceAgent: 24 h at 14 calls a minute. Beyond it the day covers the most recent calls
# only; memory never follows the traffic (a point is ~100 bytes).
MAX_POINTS = 20_000
RECENT_JOBS = 256  # a retry comes within seconds; a scan of 256 IDs is cheap


@dataclass(frozen=True)
class CallPoint:
    """What the aggregates need of one call."""

    at: float  # monotonic, when the summary arrived
    answered: bool  # the agent replied at least once
    voice_to_voice_s: float | None  # the call's median turn, end of speech -> first audio
    duration_s: float
    cost_usd: float
    priced: bool  # every stage had a price


def point_of(summary: CallSummary, at: float) -> CallPoint:
    e2e = summary.latency.get("e2e_latency")
    return CallPoint(
        at=at,
        answered=summary.turns > 0,
        voice_to_voice_s=e2e.p50 if e2e is not None else None,
        duration_s=summary.duration_s,
        cost_usd=summary.cost.total,
        priced=not summary.cost.unpriced,
    )


def _rank(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _two_digits(value: float) -> str:
    return f"{float(f'{value:.2g}'):g}"


def stats(points: Sequence[CallPoint]) -> dict[str, object]:
    """One window's figures, rounded so the status changes with the traffic, not the noise."""
    v2v = sorted(p.voice_to_voice_s for p in points if p.voice_to_voice_s is not None)
    minutes = sum(p.duration_s for p in points) / 60
    cost = sum(p.cost_usd for p in points)
    out: dict[str, object] = {
        "calls": len(points),
        "answered": sum(p.answered for p in points),
        "minutes": round(minutes, 1),
        "cost": f"${cost:.2f}",
    }
    if v2v:
        out["p50VoiceToVoice"] = f"{_two_digits(_rank(v2v, 0.5))}s"
        out["p95VoiceToVoice"] = f"{_two_digits(_rank(v2v, 0.95))}s"
    if minutes > 0:
        out["costPerMinute"] = f"${_two_digits(cost / minutes)}"
    if unpriced := sum(not p.priced for p in points):
        out["unpricedCalls"] = unpriced
    return out


@dataclass
class CallWindow:
    """The last day of calls of one VoiceAgent, oldest first."""

    points: deque[CallPoint] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    # The latest jobs counted, so a summary sent twice counts once.
    jobs: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_JOBS))

    def add(self, point: CallPoint, job_id: str) -> bool:
        """False (and nothing counted) when this job's call is in already."""
        if job_id in self.jobs:
            return False
        self.jobs.append(job_id)
        self.points.append(point)
        return True

    def aggregate(self, now: float) -> dict[str, object] | None:
        """status.calls: each window's figures (None before the first call)."""
        horizon = max(span for _, span in WINDOWS)
        while self.points and now - self.points[0].at > horizon:
            self.points.popleft()
        if not self.points:
            return None
        return {
            name: stats([p for p in self.points if now - p.at <= span]) for name, span in WINDOWS
        }
