"""`python -m bench gateway [--rounds N]`: the latency a Twilio stream through the gateway adds.

An echo participant (kind agent, so the gateway subscribes to it as it would to the agent)
sends back whatever the caller publishes. A 200 ms tone goes round trip twice per round:
once from a direct LiveKit participant (a 50 ms AudioSource queue, as the tests' SimCaller;
timed from the hand-over to the SDK),
once from the Twilio carrier double through the gateway (μ-law frames over the WebSocket,
the gateway's jitter buffer and source, the agent track back, the real-time pacer). Both
use the same livekit-server on loopback; the difference of the round trips is what the
gateway adds (both directions together). Two gateways run side by side in one run: `soxr`
(livekit's resamplers, as before: VERY_HIGH 8->16 kHz and the SDK's 48->8 kHz) and `fir`
(the gateway's own short filters, resample.py, the default).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from livekit import api, rtc
from switchboard_gateway import mulaw

from bench.common import summary, write
from devstack.livekit import LiveKitStack
from tests.support import echo_agent
from tests.support.agent_caller import caller_token
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import GatewayProcess, ProviderKeys

RATE = 16000
CHUNK = RATE // 100  # 10 ms
LOUD = 2000.0


def tone(ms: int, rate: int) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * 700 * t) * 8000).astype("<i2")


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(x**2))) if x.size else 0.0


async def echo(stack: LiveKitStack, room: str) -> rtc.Room:
    return await echo_agent.echo(stack.url, stack.api_key, stack.api_secret, room)


async def direct_rounds(stack: LiveKitStack, rounds: int) -> list[float]:
    room = f"direct-{int(time.time())}"
    bot = await echo(stack, room)
    me = rtc.Room()
    heard: list[float] = []

    async def listen(track: rtc.Track) -> None:
        async for ev in rtc.AudioStream(track, sample_rate=RATE, num_channels=1, frame_size_ms=10):
            if rms(bytes(ev.frame.data)) > LOUD:
                heard.append(time.monotonic())

    me.on("track_subscribed", lambda t, *_: asyncio.ensure_future(listen(t)))
    await me.connect(stack.url, caller_token(stack.api_key, stack.api_secret, room, "direct"))
    source = rtc.AudioSource(RATE, 1, queue_size_ms=50)
    await me.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("mic", source),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
    )
    out: list[float] = []
    burst, silence = tone(200, RATE).tobytes(), bytes(CHUNK * 2)
    for _ in range(rounds + 1):  # the first round warms the path up
        for _ in range(80):
            await source.capture_frame(rtc.AudioFrame(silence, RATE, 1, CHUNK))
        heard.clear()
        # from the moment the tone is handed to the SDK: the direct participant's 50 ms
        # source queue counts, as the gateway's own source queue counts on its path
        sent = time.monotonic()
        for i in range(0, len(burst), CHUNK * 2):
            await source.capture_frame(rtc.AudioFrame(burst[i : i + CHUNK * 2], RATE, 1, CHUNK))
        for _ in range(80):
            await source.capture_frame(rtc.AudioFrame(silence, RATE, 1, CHUNK))
        if heard:
            out.append((heard[0] - sent) * 1000)
    await me.disconnect()
    await bot.disconnect()
    return out[1:]


async def gateway_rounds(
    stack: LiveKitStack, gw: GatewayProcess, keys: ProviderKeys, rounds: int, prefix: str
) -> list[float]:
    async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lkapi:
        call = await CarrierCall(
            "twilio", gw.url, "default", "front-desk", keys.twilio_token
        ).dial()
        room = ""
        for _ in range(100):
            names = [r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms]
            room = next((n for n in names if n.startswith(f"{prefix}twilio-")), "")
            if room:
                break
            await asyncio.sleep(0.1)
        bot = await echo(stack, room)
        await asyncio.sleep(2)
        out: list[float] = []
        burst = tone(200, 8000)
        for _ in range(rounds + 1):
            await asyncio.sleep(1.6)
            mark = len(call.received)
            call.say(burst)
            await asyncio.sleep(1.2)
            sent = call.said_at
            for message in call.received[mark:]:
                if message["event"] == "media":
                    pcm = mulaw.decode(base64.b64decode(message["media"]["payload"]))
                    if rms(pcm) > LOUD:
                        out.append((message["_at"] - sent) * 1000)
                        break
        await call.hang_up()
        await call.close()
        await bot.disconnect()
    return out[1:]


def _gateway(tmp: Path, stack: LiveKitStack, keys: ProviderKeys, resampler: str) -> GatewayProcess:
    route = {
        "namespace": "default",
        "name": "front-desk",
        "agentName": "bench-echo",
        "roomPrefix": f"stream-{resampler}-",
        "providers": {"twilio": keys.credentials("twilio")},
    }
    return GatewayProcess(
        tmp / f"gateway-{resampler}",
        stack.url,
        stack.api_key,
        stack.api_secret,
        routes=[route],
        settings={"resampler": resampler},
    )


RESAMPLERS = ("soxr", "fir")  # before (livekit's resamplers), after (resample.py)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gateway")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    keys = ProviderKeys()
    through: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        stack = LiveKitStack(Path(tmp) / "livekit").start()
        gateways = {r: _gateway(Path(tmp), stack, keys, r) for r in RESAMPLERS}
        try:
            for gw in gateways.values():
                gw.start()

            async def measure() -> list[float]:  # one loop: LiveKit's FFI events outlive rooms
                for r, gw in gateways.items():
                    prefix = f"stream-{r}-"
                    through[r] = await gateway_rounds(stack, gw, keys, args.rounds, prefix)
                return await direct_rounds(stack, args.rounds)

            direct = asyncio.run(measure())
        finally:
            for gw in gateways.values():
                with contextlib.suppress(Exception):
                    gw.stop()
            stack.stop()
    d = summary(direct)
    print(f"direct participant round trip     p50 {d['p50']:4.0f} ms  p95 {d['p95']:4.0f} ms")
    results: dict[str, object] = {"direct_rtt_ms": d, "rows": {"direct": direct, **through}}
    for r in RESAMPLERS:
        g = summary(through[r])
        added = g["p50"] - d["p50"]
        print(
            f"through the gateway ({r:<4}) rtt    p50 {g['p50']:4.0f} ms  p95 {g['p95']:4.0f} ms"
            f"  adds p50 {added:4.0f} ms (target: <= 20 ms)  n={g['n']}"
        )
        results[f"gateway_{r}_rtt_ms"] = g
        results[f"added_{r}_p50_ms"] = added
    results["added_p50_ms"] = results["added_fir_p50_ms"]
    write("gateway", results)
    return 0
