"""livekit tier: one OTLP trace per call, rooted at the job, with call attributes, no raw number."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api
from switchboard_agent.caller_id import hash_value
from switchboard_agent.local import FliteTTS

from devstack.livekit import LiveKitStack
from tests.support.agent_livekit import (
    WorkerFactory,
    call,
)
from tests.support.agent_otlp import OtlpReceiver, ReceivedSpan
from tests.support.agent_worker import TEST_PII_HASH_KEY

pytestmark = pytest.mark.livekit

NUMBER = "+15550001234"
SIP_ATTRS = {
    "sip.callID": "SCL_trace0001",
    "sip.trunkID": "ST_trunk0001",
    "sip.phoneNumber": NUMBER,
    "sip.trunkPhoneNumber": "+15559990000",
}


def _ancestors_reach(
    span: ReceivedSpan, root: ReceivedSpan, by_id: dict[str, ReceivedSpan]
) -> bool:
    seen = 0
    while span.parent_id and seen < 100:
        if span.parent_id == root.span_id:
            return True
        parent = by_id.get(span.parent_id)
        if parent is None:
            return False
        span, seen = parent, seen + 1
    return span is root


async def _call(server: LiveKitStack, client: api.LiveKitAPI, agent_name: str) -> None:
    caller = await call(server, client, agent_name, f"sip_{NUMBER}", **SIP_ATTRS)
    try:
        await caller.next_utterance()  # greeting
        await caller.say("What are your opening hours?", FliteTTS())
        await caller.next_utterance()
    finally:
        await caller.close()


async def _root(otlp: OtlpReceiver, count: int = 1) -> list[ReceivedSpan]:
    async def wait() -> list[ReceivedSpan]:
        while len(roots := [s for s in otlp.spans if not s.parent_id]) < count:
            await asyncio.sleep(0.2)
        return roots

    return await asyncio.wait_for(wait(), 60)


async def test_one_trace_per_call(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
    otlp: OtlpReceiver,
) -> None:
    worker = agent_worker(telemetry={"otlpEndpoint": otlp.endpoint, "redactPII": True})
    name = worker.config["agentName"]
    await _call(livekit_server, lkapi, name)
    [root] = await _root(otlp)
    await asyncio.sleep(2)  # late batches of the same process, if any
    roots = [s for s in otlp.spans if not s.parent_id]
    assert len(roots) == 1, [r.name for r in roots]
    assert {s.trace_id for s in otlp.spans} == {root.trace_id}

    assert root.name == "job_entrypoint"
    attrs = root.attributes
    assert attrs["switchboard.voiceagent"] == "front-desk"
    assert attrs["switchboard.namespace"] == "default"
    assert attrs["switchboard.agent_name"] == name
    assert attrs["sip.callID"] == SIP_ATTRS["sip.callID"]
    assert attrs["sip.trunkID"] == SIP_ATTRS["sip.trunkID"]
    assert attrs["switchboard.caller.number_hash"] == hash_value(NUMBER, TEST_PII_HASH_KEY)
    assert "sip.phoneNumber" not in attrs

    by_id = {s.span_id: s for s in otlp.spans}
    names = {s.name for s in otlp.spans}
    for expected in ("agent_session", "agent_turn", "user_turn", "llm_node", "tts_node"):
        assert expected in names, sorted(names)
    assert all(_ancestors_reach(s, root, by_id) for s in otlp.spans if s is not root)

    turns = [ev for n, ev in root.events if n == "switchboard.turn"]
    answered = [t for t in turns if "switchboard.turn.eou_delay" in t]
    assert answered, turns
    for key in ("eou_delay", "llm_ttft", "tts_ttfb", "e2e_latency"):
        assert f"switchboard.turn.{key}" in answered[0], answered[0]

    raw = NUMBER.lstrip("+").encode()
    assert all(raw not in body for body in otlp.bodies)
    assert NUMBER.lstrip("+") not in worker.log()


async def test_sampling_ratio_zero_exports_nothing(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
    otlp: OtlpReceiver,
) -> None:
    worker = agent_worker(telemetry={"otlpEndpoint": otlp.endpoint, "samplingRatio": 0.0})
    await _call(livekit_server, lkapi, worker.config["agentName"])
    await asyncio.to_thread(worker.stop)  # process exit flushes whatever was sampled
    assert otlp.spans == []


async def test_raw_number_only_without_redaction(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
    otlp: OtlpReceiver,
) -> None:
    worker = agent_worker(telemetry={"otlpEndpoint": otlp.endpoint, "redactPII": False})
    await _call(livekit_server, lkapi, worker.config["agentName"])
    [root] = await _root(otlp)
    assert root.attributes["sip.phoneNumber"] == NUMBER
    assert root.attributes["switchboard.caller.number_hash"] == hash_value(
        NUMBER, TEST_PII_HASH_KEY
    )
