"""The operator's Prometheus metrics: what it decided, how fast, and what it asked LiveKit."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from switchboard.analytics.metrics import CallMetrics
from switchboard.livekit.client import LiveKitClient

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Report -> decision applied is sub-second by design (issue target: p95 <= 1 s), so the
# buckets are dense below 1 s and only coarse above.
DECISION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
WORKER_STATES = ("desired", "ready", "idle", "busy")
REPORT_RESULTS = (
    "accepted",
    "stale",
    "invalid",
    "unauthorized",
    "limited",
    "unknown",
    "standby",
)


class StateCollector:
    """Reads the operator's in-memory state at scrape time, so nothing is counted twice."""

    def __init__(
        self,
        clients: Callable[[], list[LiveKitClient]],
        statuses: Callable[[], Iterable[tuple[tuple[str, str], dict[str, Any] | None]]],
    ) -> None:
        self._clients = clients
        self._statuses = statuses  # ((namespace, VoiceAgent), its last written status)

    def describe(self) -> list[Metric]:
        return []  # unchecked: the families depend on what exists at scrape time

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "switchboard_livekit_requests",
            "LiveKit API requests made, by method",
            labels=["method"],
        )
        totals: dict[str, int] = {}
        for client in self._clients():
            for method, n in client.calls.items():
                totals[method] = totals.get(method, 0) + n
        for method in sorted(totals):
            calls.add_metric([method], totals[method])
        yield calls

        labels = ["namespace", "voiceagent"]
        active = GaugeMetricFamily(
            "switchboard_voiceagent_active_calls",
            "Active calls per VoiceAgent, as last written to its status",
            labels=labels,
        )
        workers = GaugeMetricFamily(
            "switchboard_voiceagent_workers",
            "Worker counts per VoiceAgent (desired, ready, idle, busy), as in its status",
            labels=[*labels, "state"],
        )
        for (namespace, name), last in sorted(self._statuses(), key=lambda kv: kv[0]):
            status: dict[str, Any] = last or {}
            if "activeCalls" not in status:
                continue  # not decided yet: no number beats a made-up zero
            active.add_metric([namespace, name], status["activeCalls"])
            counts = status.get("workers") or {}
            for state in WORKER_STATES:
                workers.add_metric([namespace, name, state], counts.get(state, 0))
        yield active
        yield workers


class DecisionClock:
    """Report-received -> replicas-patched latencies, for the benchmark and the probe."""

    def __init__(self, size: int = 2048, observe: Callable[[float], None] | None = None) -> None:
        self.samples: deque[float] = deque(maxlen=size)
        self._observe = observe  # e.g. a Prometheus histogram, which keeps the full history

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        if self._observe is not None:
            self._observe(seconds)


@dataclass
class OperatorMetrics:
    """One registry per operator state (not the global one), so tests stay independent."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.decision_seconds = Histogram(
            "switchboard_scaling_decision_seconds",
            "Worker report received -> scaling decision applied (replicas, status)",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.reports = Counter(
            "switchboard_worker_reports",
            "Worker reports received, by result",
            ["result"],
            registry=self.registry,
        )
        for result in REPORT_RESULTS:
            self.reports.labels(result)  # zeros from the start, so rate() has a baseline
        self.calls = CallMetrics(self.registry)

    def watch_state(self, collector: StateCollector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def make_app(metrics: OperatorMetrics) -> web.Application:
    async def get(_: web.Request) -> web.Response:
        # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp wants separately.
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(METRICS_PATH, get)
    return app
