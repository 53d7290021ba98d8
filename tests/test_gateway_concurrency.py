"""livekit tier: 10 concurrent Twilio streams on one gateway, each its own conversation."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from switchboard_agent.local import PocketsphinxSTT

from devstack.sipua.audio import flite_prompt
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_caller import transcribe
from tests.support.agent_livekit import WorkerFactory
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import GatewayProcess, ProviderKeys

pytestmark = [pytest.mark.livekit, pytest.mark.timeout(600)]

STREAMS = int(os.environ.get("SWITCHBOARD_GATEWAY_TEST_STREAMS", "10"))
HOURS_WORDS = ("open", "nine", "five", "monday", "friday")


def rss_mib(gw: GatewayProcess) -> float:
    assert gw.proc is not None
    for line in open(f"/proc/{gw.proc.pid}/status").read().splitlines():  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_concurrent_streams_do_not_cross_talk(
    agent_worker: WorkerFactory, gateway: GatewayFactory, provider_keys: ProviderKeys
) -> None:
    """Half the callers ask for the hours, half say goodbye: each hears only its own agent.

    A goodbye makes that caller's agent hang up, so cross-talk (audio, or a hang-up, routed to
    the wrong stream) shows as an hours caller cut off or a goodbye caller left connected.
    """
    worker = agent_worker(callsPerWorker=STREAMS, drainTimeout=60)
    gw = gateway(worker.config["agentName"])
    stt = PocketsphinxSTT()
    idle_rss = rss_mib(gw)
    calls = [
        CarrierCall("twilio", gw.url, "default", "front-desk", provider_keys.twilio_token)
        for _ in range(STREAMS)
    ]
    started = time.monotonic()
    try:
        await asyncio.gather(*(c.dial() for c in calls))
        greetings = await asyncio.gather(*(c.next_heard(timeout=120) for c in calls))
        greeted_s = time.monotonic() - started
        for heard in greetings:
            text = transcribe(heard.pcm16k, stt)
            assert "thank" in text or "calling" in text or "hello" in text, text
        peak_rss = rss_mib(gw)

        hours, goodbyes = calls[::2], calls[1::2]

        async def bye(call: CarrierCall) -> None:
            for _ in range(3):  # as CarrierCall.ask: a misheard goodbye is said again
                await asyncio.sleep(2.0)
                call.say(flite_prompt("Goodbye."))
                try:
                    await asyncio.wait_for(call.closed.wait(), 40)
                    return
                except TimeoutError:
                    continue

        asks = [c.ask(flite_prompt("Are you open on Monday?"), stt) for c in hours]
        results = await asyncio.gather(*asks, *(bye(c) for c in goodbyes))
        for text in results[: len(hours)]:
            assert sum(w in text for w in HOURS_WORDS) >= 2, text
        assert all(c.closed.is_set() for c in goodbyes), "a goodbye caller is still connected"
        assert all(not c.closed.is_set() for c in hours), "an hours caller was hung up on"
        for call in calls:
            assert {m["streamSid"] for m in call.received} == {call.stream_id}
        rooms = {
            line.split("room=")[1].split()[0]
            for line in gw.log().splitlines()
            if "stream started" in line
        }
        assert len(rooms) == STREAMS
        print(
            f"\n[gateway] {STREAMS} streams: all greeted {greeted_s:.1f}s after dialling; "
            f"gateway RSS {idle_rss:.0f} MiB idle, {peak_rss:.0f} MiB with {STREAMS} streams"
        )
    finally:
        for call in calls:
            await call.hang_up()
            await call.close()
