"""livekit tier: bad carrier input ends that one call cleanly; the other calls carry on."""

from __future__ import annotations

import asyncio

import pytest

from devstack.sipua.audio import flite_prompt
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_livekit import WorkerFactory
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import GatewayProcess, ProviderKeys
from tests.support.phrases import HOURS, LineMatcher

pytestmark = pytest.mark.livekit


async def open_bad(gw: GatewayProcess, keys: ProviderKeys, start: bool = True) -> CarrierCall:
    """A Twilio stream with a valid token whose carrier then misbehaves (no mic)."""
    call = CarrierCall("twilio", gw.url, "default", "front-desk", keys.twilio_token)
    status, body = await call.post_answer()
    assert status == 200, body
    url, params = call.stream_target(body)
    await call.connect(url, params, start=start, mic=False)
    return call


async def ends(call: CarrierCall, timeout: float = 15) -> int | None:
    await asyncio.wait_for(call.closed.wait(), timeout)
    await call.close()
    return call.close_code


async def test_bad_input_ends_only_that_call(
    agent_worker: WorkerFactory, gateway: GatewayFactory, provider_keys: ProviderKeys
) -> None:
    worker = agent_worker()
    gw = gateway(worker.config["agentName"], idleTimeout=2, maxMessageBytes=16384)
    good = await CarrierCall(
        "twilio", gw.url, "default", "front-desk", provider_keys.twilio_token
    ).dial()
    try:
        await good.next_heard()  # the greeting: the good call is up

        # a wrong media format: refused at start, before any room exists
        bad = await open_bad(gw, provider_keys, start=False)
        opening = bad.opening({})
        opening[1]["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000}
        for message in opening:
            await bad.send(message)
        assert await ends(bad) == 1003
        gw.wait_log("protocol error: mediaFormat.encoding: 'audio/x-l16'")

        # a malformed frame mid-call
        bad = await open_bad(gw, provider_keys)
        assert bad._ws is not None
        await bad._ws.send_str("{this is not json")
        assert await ends(bad) == 1003
        gw.wait_log("protocol error: message: not JSON")

        # an oversized message: aiohttp refuses it (1009), the session ends
        bad = await open_bad(gw, provider_keys)
        await bad.send({"event": "media", "media": {"payload": "A" * 40000}})
        assert await ends(bad) == 1009
        gw.wait_log("stream ended: socket error")

        # a socket that goes silent after its start
        bad = await open_bad(gw, provider_keys)
        assert await ends(bad, timeout=10) == 1000
        gw.wait_log("stream ended: silent socket (2s)")

        # the good call still converses
        assert await good.ask(flite_prompt("Are you open on Monday?"), LineMatcher()) == HOURS
        assert gw.proc is not None and gw.proc.alive()
    finally:
        await good.close()
