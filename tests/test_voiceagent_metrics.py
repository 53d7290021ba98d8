"""The operator's /metrics: state read at scrape time, report results, decision latency."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import get_args

import pytest
from prometheus_client.parser import text_string_to_metric_families
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.metrics import REPORT_RESULTS, make_app
from switchboard.startup import build_state
from switchboard.state import OperatorState
from switchboard.voiceagent.reports import (
    Outcome,
    RateLimiter,
    ReportResult,
    Target,
    Unserved,
    report_token,
)
from switchboard.voiceagent.reports import make_app as make_report_app
from switchboard.web import serve
from switchboard_contract.report import WorkerReport

from devstack.procs import free_port
from tests.support.voiceagent_stack import post_report

pytestmark = pytest.mark.unit

KEY = b"k" * 32
UID = "6f1c2a4e-0000-4000-8000-000000000001"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Exposition text -> {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_state_is_read_at_scrape_time() -> None:
    state, fleets = build_state(OperatorConfig())
    client = state.client(LiveKitEndpoint("http://lk", "key", "secret"))
    client.calls.update({"CreateSIPDispatchRule": 2, "ListSIPDispatchRule": 5})
    fleet = fleets.get("tel", "desk")
    fleets.get("tel", "undecided")  # no status yet: no made-up zero
    fleet.last_status = {
        "activeCalls": 3,
        "workers": {"desired": 5, "ready": 4, "idle": 1, "busy": 3},
    }
    fleets.decisions.add(0.2)
    fleets.decisions.add(3.0)
    got = samples(state.metrics.exposition().decode())
    va = (("namespace", "tel"), ("voiceagent", "desk"))
    assert got[("switchboard_voiceagent_active_calls", va)] == 3
    for worker_state, n in [("desired", 5), ("ready", 4), ("idle", 1), ("busy", 3)]:
        labels = tuple(sorted([*va, ("state", worker_state)]))
        assert got[("switchboard_voiceagent_workers", labels)] == n
    assert not any(dict(labels).get("voiceagent") == "undecided" for _, labels in got)
    method = (("method", "ListSIPDispatchRule"),)
    assert got[("switchboard_livekit_requests_total", method)] == 5
    assert got[("switchboard_scaling_decision_seconds_count", ())] == 2
    assert got[("switchboard_scaling_decision_seconds_bucket", (("le", "0.25"),))] == 1
    assert got[("switchboard_scaling_decision_seconds_bucket", (("le", "+Inf"),))] == 2
    # the deque behind the probe is bounded; the histogram keeps counting
    assert list(fleets.decisions.samples) == [0.2, 3.0]
    client.calls["ListSIPDispatchRule"] += 1
    later = samples(state.metrics.exposition().decode())
    assert later[("switchboard_livekit_requests_total", method)] == 6


async def test_report_results_are_counted_and_served() -> None:
    state = OperatorState(OperatorConfig())
    frozen = RateLimiter(clock=lambda: 0.0)  # no refill: the burst is all "busy" gets

    def lookup(namespace: str, name: str) -> Target | Unserved:
        return {"gone": "unknown", "paused": "standby"}.get(name, Target(UID, 0))  # type: ignore[return-value]

    async def on_report(report: WorkerReport, received: float) -> ReportResult:
        return "stale" if report.voice_agent == "old" else "accepted"

    report_port, metrics_port = free_port(), free_port()
    runners = [
        await serve(
            make_report_app(
                KEY,
                lookup,
                on_report,
                on_result=lambda r: state.metrics.reports.labels(r).inc(),
                limiter=frozen,
            ),
            "127.0.0.1",
            report_port,
            "reports",
        ),
        await serve(make_app(state.metrics), "127.0.0.1", metrics_port, "metrics"),
    ]
    try:

        def report(va: str) -> bytes:
            return (
                WorkerReport(
                    namespace="tel", voice_agent=va, pod="p", active_calls=0, capacity=1, seq=1
                )
                .model_dump_json()
                .encode()
            )

        def token(va: str) -> str:
            return report_token(KEY, "tel", va, UID)

        frozen.buckets["tel", "busy"] = (0.0, 0.0)  # its budget is spent
        codes = await asyncio.gather(
            asyncio.to_thread(post_report, report_port, report("desk"), token("desk")),
            asyncio.to_thread(post_report, report_port, report("old"), token("old")),
            asyncio.to_thread(post_report, report_port, report("desk"), "forged"),
            asyncio.to_thread(post_report, report_port, report("gone"), token("gone")),
            asyncio.to_thread(post_report, report_port, b"{}", token("desk")),
            asyncio.to_thread(post_report, report_port, report("busy"), token("busy")),
            asyncio.to_thread(post_report, report_port, report("paused"), token("paused")),
        )
        assert codes == [200, 409, 401, 401, 400, 429, 503]

        def scrape() -> tuple[str, str]:
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.headers["Content-Type"], resp.read().decode()

        content_type, text = await asyncio.to_thread(scrape)
    finally:
        for runner in runners:
            await runner.cleanup()
    assert content_type.startswith("text/plain")
    got = samples(text)
    for result in REPORT_RESULTS:
        assert got[("switchboard_worker_reports_total", (("result", result),))] == 1, result


def test_every_report_outcome_is_a_metric_label() -> None:
    """The endpoint's outcomes and the label set pre-created at zero are the same set."""
    assert set(get_args(Outcome)) == set(REPORT_RESULTS)
    assert len(REPORT_RESULTS) == len(set(REPORT_RESULTS))


def test_metrics_listen_from_env() -> None:
    assert OperatorConfig.from_env({}).metrics_port is None
    cfg = OperatorConfig.from_env({"SWITCHBOARD_METRICS_LISTEN": ":9464"})
    assert (cfg.metrics_host, cfg.metrics_port) == ("0.0.0.0", 9464)
