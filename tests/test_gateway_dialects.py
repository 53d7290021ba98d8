"""livekit tier: Plivo (Vobiz) and Telnyx streams, each in its own dialect, to a real agent."""

from __future__ import annotations

import asyncio
import base64

import pytest
from livekit import api

from devstack.sipua.audio import flite_prompt
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_livekit import WorkerFactory
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import ProviderKeys
from tests.support.phrases import HOURS, LineMatcher

pytestmark = pytest.mark.livekit

# what the gateway may send, per dialect (nothing else, and never Twilio's names)
OUTBOUND = {
    "plivo": {"playAudio", "checkpoint", "clearAudio"},
    "telnyx": {"media", "mark", "clear"},
}


@pytest.mark.parametrize("provider", ["plivo", "telnyx"])
async def test_dialect_conversation(
    provider: str,
    agent_worker: WorkerFactory,
    gateway: GatewayFactory,
    provider_keys: ProviderKeys,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker()
    gw = gateway(worker.config["agentName"])
    call = CarrierCall(provider, gw.url, "default", "front-desk", provider_keys.secret(provider))
    if provider == "telnyx":
        call.call_id = "v3:" + call.call_id  # Telnyx call_control_ids look like this
    try:
        await call.dial()
        # the greeting: speech is enough here (test_gateway_twilio checks its words; under
        # load the agent's TTS arrives in pieces that pocketsphinx cannot always read)
        assert len((await call.next_heard()).pcm16k) > 16000
        assert await call.ask(flite_prompt("Are you open on Monday?"), LineMatcher()) == HOURS

        # the caller's number reached the worker's attributes through this dialect
        rooms = (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms
        room = next(r.name for r in rooms if r.name.startswith(f"stream-{provider}-"))
        parts = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
        caller = next(p for p in parts.participants if p.attributes.get("sip.callID"))
        assert caller.attributes["sip.callID"] == call.call_id
        assert caller.attributes["sip.phoneNumber"] == call.caller
        assert caller.attributes["switchboard.channel"] == provider

        events = {m["event"] for m in call.received}
        assert events <= OUTBOUND[provider], events
        audio = [m for m in call.received if m["event"] in ("playAudio", "media")]
        assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in audio)
        if provider == "plivo":
            assert all(
                m["media"]["contentType"] == "audio/x-mulaw" and m["media"]["sampleRate"] == 8000
                for m in audio
            )
            marks = [m["name"] for m in call.received if m["event"] == "checkpoint"]
            assert all(m["streamId"] == call.stream_id for m in call.received if "name" in m)
        else:
            assert all(set(m) == {"event", "media", "_at"} for m in audio)
            marks = [m["mark"]["name"] for m in call.received if m["event"] == "mark"]
        assert marks and set(marks) <= set(call.marks_echoed)

        # hang-up: Plivo closes the socket (it has no stop), Telnyx sends stop
        await call.hang_up()
        reason = "carrier closed the socket" if provider == "plivo" else "carrier stop"
        gw.wait_log(f"stream ended: {reason}")
        for _ in range(100):
            if not (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("room still open after the carrier hung up")
    finally:
        await call.close()
