"""livekit tier: a Twilio Media Stream through the gateway reaches a real agent and back."""

from __future__ import annotations

import asyncio
import base64

import pytest
from livekit import api, rtc
from switchboard_agent.local import PocketsphinxSTT

from devstack.livekit import LiveKitStack
from devstack.sipua.audio import flite_prompt
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_caller import caller_token, transcribe
from tests.support.agent_livekit import WorkerFactory
from tests.support.agent_otlp import OtlpReceiver
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import ProviderKeys
from tests.support.phrases import GREETING, HOURS, LineMatcher

pytestmark = pytest.mark.livekit

QUESTION = "Are you open on Monday?"  # the SIP tests' question, in their caller voice


def twilio_call(gw_url: str, keys: ProviderKeys, provider: str = "twilio") -> CarrierCall:
    return CarrierCall(provider, gw_url, "default", "front-desk", keys.secret(provider))


async def room_of(lkapi: api.LiveKitAPI, call_id: str, timeout: float = 10) -> str:
    """The room whose caller participant carries `call_id` (as the worker would see it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for room in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms:
            resp = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room.name))
            if any(p.attributes.get("sip.callID") == call_id for p in resp.participants):
                return room.name
        await asyncio.sleep(0.2)
    raise AssertionError(f"no room has a participant for call {call_id}")


async def test_twilio_stream_conversation(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    gateway: GatewayFactory,
    provider_keys: ProviderKeys,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker()
    gw = gateway(worker.config["agentName"])
    stt = PocketsphinxSTT()
    call = await twilio_call(gw.url, provider_keys).dial()
    try:
        greeting = await call.next_reply()
        assert LineMatcher().which(greeting.pcm16k) == GREETING, transcribe(greeting.pcm16k, stt)

        # the caller participant carries what the worker reads for a phone caller
        room = await room_of(lkapi, call.call_id)
        parts = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
        caller = next(p for p in parts.participants if p.attributes.get("sip.callID"))
        assert caller.attributes["sip.phoneNumber"] == call.caller
        assert caller.attributes["sip.trunkPhoneNumber"] == call.called
        assert caller.attributes["switchboard.channel"] == "twilio"
        assert caller.attributes["switchboard.streamID"] == call.stream_id
        assert call.caller not in room

        # DTMF reaches the room as LiveKit DTMF
        spy = rtc.Room()
        digits: asyncio.Queue[str] = asyncio.Queue()
        spy.on("sip_dtmf_received", lambda ev: digits.put_nowait(ev.digit))
        key, secret = livekit_server.api_key, livekit_server.api_secret
        await spy.connect(livekit_server.url, caller_token(key, secret, room, "spy"))
        await call.dtmf("5")
        await call.dtmf("#")
        assert [await asyncio.wait_for(digits.get(), 10) for _ in range(2)] == ["5", "#"]
        await spy.disconnect()

        assert await call.ask(flite_prompt(QUESTION), LineMatcher()) == HOURS

        # protocol: only media/mark (no clear without a barge-in), Twilio's exact shapes
        media = [m for m in call.received if m["event"] == "media"]
        assert media and all(set(m) == {"event", "streamSid", "media", "_at"} for m in media)
        assert all(m["streamSid"] == call.stream_id for m in call.received)
        assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
        assert {m["event"] for m in call.received} <= {"media", "mark"}
        marks = [m["mark"]["name"] for m in call.received if m["event"] == "mark"]
        assert marks and set(marks) <= set(call.marks_echoed), (marks, call.marks_echoed)
        # paced in real time: by any frame, no more frames than the time since the first
        # allows (+ the pacer's 60 ms lead and slack). Arrival times, not gaps: this test's
        # own loop stalls while it transcribes, which bunches arrivals but never adds any.
        times = [m["_at"] for m in media]
        for j, t in enumerate(times):
            assert j + 1 <= (t - times[0]) / 0.020 + 6, f"frame {j} arrived early"
        assert len(times) > 100

        # the caller hangs up: the gateway deletes the room, which ends the agent's job
        await call.hang_up()
        for _ in range(100):
            rooms = (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
            if not rooms:
                break
            await asyncio.sleep(0.1)
        assert not rooms, "room still open after the carrier's stop"
        gw.wait_log("stream ended: carrier stop")
        assert call.caller not in gw.log()
    finally:
        await call.close()


async def test_twilio_agent_hangs_up(
    agent_worker: WorkerFactory,
    gateway: GatewayFactory,
    provider_keys: ProviderKeys,
    otlp: OtlpReceiver,
) -> None:
    """The agent's end_call deletes the room; the gateway closes the carrier's socket; the
    call's summary says so, priced at the shipped Twilio minute."""
    worker = agent_worker(telemetry={"otlpEndpoint": otlp.endpoint, "redactPII": True})
    gw = gateway(worker.config["agentName"])
    call = await twilio_call(gw.url, provider_keys).dial()
    try:
        await call.next_heard()
        call.say(flite_prompt("Goodbye."))
        await asyncio.wait_for(call.closed.wait(), 60)
        assert call.close_code == 1000
        gw.wait_log("stream ended: ")
        # the agent's end_call deletes the room; whichever event reaches us first ends it
        assert "stream ended: room closed" in gw.log() or "stream ended: agent left" in gw.log()
        [root] = await otlp.roots()
        summary = {k.removeprefix("switchboard.call."): v for k, v in root.attributes.items()}
        assert root.attributes["switchboard.channel"] == "twilio"
        assert summary["result"] == "completed", summary  # the agent ended it
        assert summary["usage.stt_audio_s"] > 0 and summary["usage.tts_characters"] > 0
        minutes = summary["duration_s"] / 60
        assert summary["cost.telephony_usd"] == pytest.approx(minutes * 0.0085, abs=1e-6)
    finally:
        await call.close()


LONG = (
    "We are open from nine in the morning to five in the evening, Monday to Friday, "
    "and from ten to two on Saturdays. On Sundays and public holidays we are closed."
)


async def test_twilio_barge_in_sends_one_clear(
    agent_worker: WorkerFactory, gateway: GatewayFactory, provider_keys: ProviderKeys
) -> None:
    """The caller talks over a long answer: the agent stops and the gateway sends one clear."""
    script = {
        "intents": [{"name": "hours", "keywords": ["open", "hours", "monday"], "reply": LONG}],
        "fallback": LONG,  # misheard or not, the reply is long enough to talk over
    }
    pipeline = {
        "stt": {"provider": "pocketsphinx", "language": "en-US"},
        "llm": {"provider": "scripted", "script": script},
        "tts": {"provider": "flite", "voice": "slt"},
    }
    worker = agent_worker(pipeline=pipeline)
    gw = gateway(worker.config["agentName"])
    call = await twilio_call(gw.url, provider_keys).dial()
    try:
        await call.next_heard()  # the greeting (not interruptible by this agent's design)
        await asyncio.sleep(1.0)
        call.speech.clear()
        call.say(flite_prompt(QUESTION))
        await asyncio.wait_for(call.speech.wait(), 60)  # the long answer starts playing
        await asyncio.sleep(0.8)
        call.say(flite_prompt(QUESTION))  # ... and the caller talks over it
        for _ in range(150):
            if any(m["event"] == "clear" for m in call.received):
                break
            await asyncio.sleep(0.1)
        clears = [m for m in call.received if m["event"] == "clear"]
        assert len(clears) == 1, [m["event"] for m in call.received if m["event"] != "media"]
        assert clears[0] == {"event": "clear", "streamSid": call.stream_id, "_at": clears[0]["_at"]}
        # after the clear, no more of the interrupted answer: the next answer starts anew
        interrupted = await call.next_heard()
        assert interrupted.started_at < clears[0]["_at"]
        await call.next_heard()  # the answer to the interrupting question
        assert sum(m["event"] == "clear" for m in call.received) == 1
        gw.wait_log("barge-in: clear")
    finally:
        await call.close()
