"""Unit tests of the operator's call analytics: status windows, the call log, metrics, the route."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from switchboard.analytics import calllog
from switchboard.analytics.calllog import CallLog, call_log_configmap
from switchboard.analytics.metrics import CallMetrics, provider_label
from switchboard.analytics.route import add_summary_route, on_summary
from switchboard.analytics.window import CallWindow, point_of, stats
from switchboard.voiceagent.fleet import Fleets
from switchboard.voiceagent.reports import RateLimiter, Target, report_token
from switchboard_contract.analytics import SUMMARY_PATH, CallSummary

pytestmark = pytest.mark.unit

KEY, UID = b"k" * 32, "va-uid"
REF = {
    "apiVersion": "switchboard.dev/v1alpha1",
    "kind": "VoiceAgent",
    "metadata": {"name": "desk", "namespace": "tel", "uid": UID},
}


def summary(
    job: str = "AJ_1", *, e2e: float | None = 1.0, cost: float = 0.03, **kw: Any
) -> CallSummary:
    latency = {"e2e_latency": {"p50": e2e, "max": e2e, "n": 2}} if e2e is not None else {}
    doc: dict[str, Any] = {
        "namespace": "tel",
        "voiceAgent": "desk",
        "jobId": job,
        "channel": "sip",
        "result": "completed",
        "startedAt": 1.0,
        "durationS": 60.0,
        "turns": 2,
        "interruptions": 0,
        "latency": latency,
        "usage": {"sttAudioS": 20.0, "llmInputTokens": 900, "llmOutputTokens": 40},
        "priced": {"stt": "deepgram/nova-3", "llm": "openai/gpt-4.1-mini", "tts": "cartesia"},
        "cost": {"stt": 0.01, "llm": 0.005, "tts": cost - 0.015, "total": cost},
    }
    doc.update(kw)
    return CallSummary.model_validate_json(json.dumps(doc))


def test_window_figures_golden() -> None:
    points = [
        point_of(summary("a", e2e=0.9, cost=0.03), 0.0),
        point_of(summary("b", e2e=1.4, cost=0.05), 1.0),
        point_of(summary("c", e2e=None, cost=0.01, turns=0), 2.0),  # nobody spoke
    ]
    assert stats(points) == {
        "calls": 3,
        "answered": 2,
        "minutes": 3.0,
        "cost": "$0.09",
        "p50VoiceToVoice": "0.9s",  # nearest rank over the calls that had a turn
        "p95VoiceToVoice": "1.4s",
        "costPerMinute": "$0.03",
    }


def test_windows_split_by_age_and_forget_after_a_day() -> None:
    window = CallWindow()
    assert window.aggregate(0.0) is None
    assert window.add(point_of(summary("old"), 0.0), "old")
    assert window.add(point_of(summary("new"), 80_000.0), "new")
    assert not window.add(point_of(summary("new"), 80_001.0), "new")  # a retried POST
    got = window.aggregate(80_100.0)
    assert got is not None
    assert (got["lastHour"]["calls"], got["last24h"]["calls"]) == (1, 2)  # type: ignore[index]
    later = window.aggregate(90_000.0)  # "old" is more than a day old now
    assert later is not None and later["last24h"]["calls"] == 1  # type: ignore[index]


def test_unpriced_calls_are_counted_not_hidden() -> None:
    unpriced = summary(cost=0.0, cost_override=None) if False else None
    doc = json.loads(summary().model_dump_json())
    doc["cost"] = {"stt": 0.01, "total": 0.01, "unpriced": ["llm:openai/gpt-9"]}
    unpriced = CallSummary.model_validate_json(json.dumps(doc))
    assert stats([point_of(unpriced, 0.0)])["unpricedCalls"] == 1


def test_call_log_is_bounded_and_owned() -> None:
    log = CallLog()
    for i in range(7):
        log.add(summary(f"AJ_{i}"), size=5)
    cm = call_log_configmap(REF, log.lines)
    assert cm["metadata"]["name"] == "desk-calls"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == UID
    lines = cm["data"][calllog.DATA_KEY].splitlines()
    assert [json.loads(line)["jobId"] for line in lines] == [f"AJ_{i}" for i in range(2, 7)]
    # the largest log allowed, of summaries as big as they get, stays far under 1 MiB
    big = summary("AJ_" + "x" * 125)
    assert len(big.model_dump_json()) * calllog.MAX_SIZE < 512 * 1024


async def test_call_log_writes_are_coalesced() -> None:
    writes: list[dict[str, Any]] = []

    async def write(manifest: dict[str, Any]) -> None:  # the API server's test double
        writes.append(manifest)

    log = CallLog()
    calllog.FLUSH_S, saved = 0.05, calllog.FLUSH_S
    try:
        tasks = []
        for i in range(3):
            log.add(summary(f"AJ_{i}"), size=10)
            tasks.append(log.schedule(REF, write))
        assert tasks[1] is None and tasks[2] is None  # one write carries all three
        await asyncio.wait_for(tasks[0], 2)  # type: ignore[arg-type]
    finally:
        calllog.FLUSH_S = saved
    assert len(writes) == 1
    assert len(writes[0]["data"][calllog.DATA_KEY].splitlines()) == 3


def test_metrics_labels_stay_bounded() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    metrics.observe(summary())
    odd = json.loads(summary("AJ_2").model_dump_json())
    odd["priced"] = {"llm": "my-own-llm/v9", "channel": "sip"}
    metrics.observe(CallSummary.model_validate_json(json.dumps(odd)))
    who = {"namespace": "tel", "voiceagent": "desk"}
    get = registry.get_sample_value
    assert get("switchboard_calls_total", {**who, "channel": "sip", "result": "completed"}) == 2
    assert get("switchboard_call_minutes_total", {**who, "channel": "sip"}) == 2.0
    assert get("switchboard_call_voice_to_voice_seconds_count", {**who, "channel": "sip"}) == 2
    assert get("switchboard_call_cost_usd_total", {**who, "part": "stt", "provider": "deepgram"})
    assert get("switchboard_call_cost_usd_total", {**who, "part": "llm", "provider": "other"})
    assert provider_label("openai/gpt-4.1-mini") == "openai"
    assert provider_label("Robert'); DROP TABLE") == "other"


async def test_the_route_takes_a_verified_summary_once() -> None:
    fleets = Fleets()
    fleet = fleets.get("tel", "desk")
    fleet.ref = REF
    fleet.own(0.0)
    metrics = CallMetrics(CollectorRegistry())
    app = web.Application()

    async def record(s: CallSummary) -> tuple[int, str]:
        return await on_summary(fleets, metrics, 0, s)  # no call log: no API server here

    lookup = lambda ns, name: Target(UID, 1) if (ns, name) == ("tel", "desk") else "unknown"  # noqa: E731
    add_summary_route(app, KEY, lookup, record, RateLimiter())
    token = {"Authorization": "Bearer " + report_token(KEY, "tel", "desk", UID)}
    body = summary().model_dump_json()
    async with TestClient(TestServer(app)) as client:
        forged = await client.post(SUMMARY_PATH, data=body, headers={"Authorization": "Bearer x"})
        assert forged.status == 401
        bad = await client.post(SUMMARY_PATH, data=b'{"namespace": "tel"}', headers=token)
        assert bad.status == 400
        assert (await bad.json())["error"].startswith("voiceAgent")
        for _ in range(2):  # the same job twice: counted once
            ok = await client.post(SUMMARY_PATH, data=body, headers=token)
            assert ok.status == 200
    assert len(fleet.calls.points) == 1
    other = json.loads(body)
    other["namespace"] = "elsewhere"  # a token for tel/desk cannot add calls to another tenant
    async with TestClient(TestServer(app)) as client:
        refused = await client.post(SUMMARY_PATH, data=json.dumps(other), headers=token)
        assert refused.status == 401
