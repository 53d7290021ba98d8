"""`python -m bench channels`: voice-to-voice latency and jitter, SIP against a Twilio stream.

The same VoiceAgent (one offline worker: pocketsphinx, scripted LLM, flite) is called over
livekit-sip (PCMU RTP over UDP) and over a Twilio Media Stream through the gateway (μ-law in
JSON over a WebSocket, TCP), call after call, under each network condition. The carrier leg
of both paths crosses a network namespace that this benchmark creates and removes: a veth
to it, a userspace relay inside it delaying each direction (UDP for RTP, TCP for the
WebSocket, the same delay on both), and `iptables -m statistic` dropping packets entering
it at random (so both directions of both paths lose packets alike). No netem here: this
kernel has no netem qdisc. The LiveKit legs (agent, livekit-sip, gateway) stay on loopback.

voice-to-voice: from the caller's last loud 20 ms frame sent to the first loud frame of the
agent's answer arriving at the caller (arrival, not playout, on both paths); it includes the
agent's endpointing and pipeline, so agent->caller isolates the transport: from the agent's
`lk.agent.state` turning `speaking` (seen by a hidden participant) to that first arrival.
jitter: RFC 3550 interarrival jitter of the agent's frames at the caller (RTP: by sequence
number; stream: consecutive media messages, 20 ms apart), within talk spurts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from livekit import api, rtc

from bench.common import summary, write
from bench.netns import NetNamespace
from bench.voice_common import (
    CALLER,
    FRAME_S,
    NUMBER,
    PIPELINE,
    QUESTION,
    answer_start,
    provision,
    speech_end,
)
from devstack.livekit import LiveKitStack
from devstack.procs import poll
from devstack.sip import SipBridge
from devstack.sipua import ua as sipua
from devstack.sipua.audio import flite_prompt
from devstack.sipua.rtp import Received, RtpSession, ulaw_decode
from devstack.sipua.ua import SipUA
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import GatewayProcess, ProviderKeys

# (label, loss probability, one-way delay ms); "clean" crosses the relay at 0 ms, no loss
CONDITIONS = [("clean", 0.0, 0.0), ("1% loss +40ms", 0.01, 40.0), ("5% loss +40ms", 0.05, 40.0)]
UDP_PORTS = (40000, 40002)  # in the namespace: livekit-sip's side, the caller's side
TCP_PORT = 40080
PAUSE_S = 1.0  # the caller lets the agent finish first
SPURT_GAP_S = 0.2  # frames further apart than this are in different talk spurts


class StateSpy:
    """A hidden participant noting when the agent's `lk.agent.state` turns `speaking`."""

    def __init__(self) -> None:
        self.speaking: list[float] = []
        self.room = rtc.Room()

    async def join(self, stack: LiveKitStack, prefix: str, seen: set[str]) -> None:
        async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lk:
            for _ in range(100):
                rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                fresh = [r.name for r in rooms if r.name.startswith(prefix) and r.name not in seen]
                if fresh:
                    break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError(f"no {prefix} room")
        seen.add(fresh[0])
        grants = api.VideoGrants(room_join=True, room=fresh[0], hidden=True, can_publish=False)
        token = api.AccessToken(stack.api_key, stack.api_secret).with_identity("bench-spy")
        self.room.on("participant_attributes_changed", self._changed)
        options = rtc.RoomOptions(auto_subscribe=False)
        await self.room.connect(stack.url, token.with_grants(grants).to_jwt(), options)

    def _changed(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if changed.get("lk.agent.state") == "speaking":
            self.speaking.append(time.monotonic())

    def after(self, t: float) -> float | None:
        return next((s for s in self.speaking if s > t), None)

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self.room.disconnect()


class SeqRtp(RtpSession):
    """An RtpSession that also notes each packet's sequence number (for RFC 3550 jitter)."""

    def __init__(self, host: str) -> None:
        super().__init__(host=host)
        self.seqs: list[tuple[float, int]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        super().datagram_received(data, addr)
        if len(self.received) > len(self.seqs):
            self.seqs.append((self.received[-1].at, int.from_bytes(data[2:4], "big")))


def jitter_ms(points: list[tuple[float, int]]) -> float:
    """RFC 3550 interarrival jitter of (arrival, frame index) pairs, within talk spurts."""
    j = 0.0
    for (a0, s0), (a1, s1) in itertools.pairwise(points):
        steps = (s1 - s0) & 0xFFFF
        if a1 - a0 > SPURT_GAP_S or steps > 10:
            continue
        d = (a1 - a0) - steps * FRAME_S
        j += (abs(d) - j) / 16
    return j * 1000


class Channels:
    """livekit-server, livekit-sip and the gateway on the veth's root side; one worker."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = f"bench-ch-{uuid.uuid4().hex[:6]}"
        self.keys = ProviderKeys()
        self.question = flite_prompt(QUESTION)
        self.served = 0
        self.rooms: set[str] = set()

    async def __aenter__(self) -> Channels:
        self.ns = NetNamespace().create()
        host = self.ns.root_ip
        self.stack = LiveKitStack(self.workdir / "livekit").start()
        self.bridge = SipBridge(self.workdir / "sip", self.stack, host=host).start()
        self.gw = GatewayProcess(
            self.workdir / "gateway",
            self.stack.url,
            self.stack.api_key,
            self.stack.api_secret,
            listen_host=host,
            public_url=f"http://{self.ns.ns_ip}:{TCP_PORT}",
            routes=[
                {
                    "namespace": "default",
                    "name": "front-desk",
                    "agentName": self.name,
                    "providers": {"twilio": self.keys.credentials("twilio")},
                }
            ],
        ).start()
        doc = offline_config_doc(
            agentName=self.name,
            greeting="Hello, thank you for calling.",
            pipeline=PIPELINE,
        )
        self.worker = AgentWorker(
            self.workdir / "agent", doc, self.stack.url, self.stack.api_key, self.stack.api_secret
        ).start()
        self.ua = await SipUA(user="bench", host=host).start()
        await self._provision()
        return self

    async def __aexit__(self, *exc: object) -> None:
        print("channels: tearing down", flush=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ua.close(), 15)
        for stop in (self.worker.stop, self.gw.stop, self.bridge.stop, self.stack.stop):
            with contextlib.suppress(Exception):
                stop()
        self.ns.remove()

    async def _provision(self) -> None:
        await provision(self.stack, self.name, f"{self.ns.root_ip}/32")

    def condition(self, loss: float, delay_ms: float) -> None:
        self.ns.set_loss(loss)
        self.ns.start_relay(delay_ms, UDP_PORTS, (TCP_PORT, self.ns.root_ip, self.gw.port))

    async def _idle_worker(self) -> None:
        def ready() -> bool:
            log = self.worker.log()
            return (
                log.count("process initialized") >= self.served + 1
                and log.count("marking as available") >= self.served
                and "active_jobs" not in self.worker.worker_info()
            )

        await asyncio.to_thread(poll, ready, 120, "an idle worker")
        self.served += 1

    async def sip_call(self, questions: int) -> dict[str, Any]:
        await self._idle_worker()
        rtp = await SeqRtp(self.ns.root_ip).bind()
        offer = sipua.sdp_offer
        # the offer names the relay's livekit-sip side; our RTP goes to its caller side
        sipua.sdp_offer = lambda _h, _p, sid: offer(self.ns.ns_ip, UDP_PORTS[0], sid)
        try:
            call = await self.ua.invite(self.bridge.uri(NUMBER), caller=CALLER, rtp=rtp)
        finally:
            sipua.sdp_offer = offer
        rtp.remote = (self.ns.ns_ip, UDP_PORTS[1])
        turns: list[float | None] = []
        down: list[float] = []
        spy = StateSpy()
        try:
            await spy.join(self.stack, "call-", self.rooms)
            await answer_start(lambda: rtp.received, call.answered_at, 60)  # the greeting
        except TimeoutError:
            questions = 0  # counted as unanswered below
            turns = [None]
        try:
            for _ in range(questions):
                await asyncio.sleep(PAUSE_S)
                rtp.play(self.question)
                while rtp.playing:
                    await asyncio.sleep(0.01)
                ended = rtp.speech_ended_at
                try:
                    heard = await answer_start(lambda: rtp.received, ended, 30)
                except TimeoutError:
                    turns.append(None)
                    continue
                turns.append(heard - ended)
                if (spoke := spy.after(ended)) is not None and spoke < heard:
                    down.append(heard - spoke)
        finally:
            await spy.close()
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(call.bye(), 10)
            await call.close()
        return {"turns": turns, "agent_to_caller": down, "jitter_ms": jitter_ms(rtp.seqs)}

    async def twilio_call(self, questions: int) -> dict[str, Any]:
        await self._idle_worker()
        url = f"http://{self.ns.ns_ip}:{TCP_PORT}"
        call = CarrierCall("twilio", url, "default", "front-desk", self.keys.twilio_token)
        decoded: list[Received] = []

        def arrivals() -> list[Received]:
            media = [m for m in call.received if m.get("event") == "media"]
            for m in media[len(decoded) :]:
                pcm = ulaw_decode(base64.b64decode(m["media"]["payload"]))
                decoded.append(Received(m["_at"], pcm))
            return decoded

        dialed = time.monotonic()
        await call.dial()
        tail = speech_end(self.question)
        turns: list[float | None] = []
        down: list[float] = []
        spy = StateSpy()
        try:
            await spy.join(self.stack, "stream-twilio-", self.rooms)
            await answer_start(arrivals, dialed, 60)
        except TimeoutError:
            questions = 0
            turns = [None]
        try:
            for _ in range(questions):
                await asyncio.sleep(PAUSE_S)
                before = call.said_at
                call.say(self.question)
                while call.said_at == before:
                    await asyncio.sleep(0.01)
                ended = call.said_at + tail
                try:
                    heard = await answer_start(arrivals, ended, 30)
                except TimeoutError:
                    turns.append(None)
                    continue
                turns.append(heard - ended)
                if (spoke := spy.after(ended)) is not None and spoke < heard:
                    down.append(heard - spoke)
        finally:
            await spy.close()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await call.hang_up()
            await call.close()
        points = [(r.at, i) for i, r in enumerate(arrivals())]
        return {"turns": turns, "agent_to_caller": down, "jitter_ms": jitter_ms(points)}


def _cell(calls: list[dict[str, Any]]) -> dict[str, Any]:
    turns = [t * 1000 for c in calls for t in c["turns"] if t is not None]
    down = [t * 1000 for c in calls for t in c.get("agent_to_caller", [])]
    asked = sum(len(c["turns"]) for c in calls)
    jitter = [c["jitter_ms"] for c in calls]
    return {
        "voice_to_voice_ms": summary(turns),
        "agent_to_caller_ms": summary(down),
        "jitter_ms": summary(jitter),
        "answered": len(turns),
        "asked": asked,
        "calls": calls,
    }


async def run(workdir: Path, calls: int, questions: int, which: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with Channels(workdir) as bench:
        for label, loss, delay in [CONDITIONS[i] for i in which]:
            bench.condition(loss, delay)
            row: dict[str, list[dict[str, Any]]] = {"sip": [], "twilio": []}
            for _ in range(calls):  # interleaved, so drift in the machine's load hits both
                row["sip"].append(await bench.sip_call(questions))
                row["twilio"].append(await bench.twilio_call(questions))
            out[label] = {ch: _cell(v) for ch, v in row.items()}
            out[label]["loss"], out[label]["delay_ms"] = loss, delay
            print_row(label, out[label])
    return out


def print_row(label: str, row: dict[str, Any]) -> None:
    for ch in ("sip", "twilio"):
        v, j = row[ch]["voice_to_voice_ms"], row[ch]["jitter_ms"]
        d = row[ch]["agent_to_caller_ms"]
        print(
            f"{label:<15} {ch:<7} v2v p50 {v['p50']:6.0f} ms  p95 {v['p95']:6.0f} ms  "
            f"agent->caller p50 {d['p50']:4.0f} ms  "
            f"jitter {j['mean']:5.1f} ms  answered {row[ch]['answered']}/{row[ch]['asked']}",
            flush=True,
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench channels")
    parser.add_argument("--calls", type=int, default=2, help="calls per channel and condition")
    parser.add_argument("--questions", type=int, default=3, help="questions per call")
    parser.add_argument("--conditions", default="0,1,2", help="indexes into CONDITIONS")
    args = parser.parse_args(argv)
    which = [int(i) for i in args.conditions.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        results = asyncio.run(run(Path(tmp), args.calls, args.questions, which))
    print(f"\n{'condition':<15} {'p50 ms':<14} {'SIP':>6} {'stream':>7} {'stream-SIP':>11}")
    for label, row in results.items():
        for key, name in (
            ("voice_to_voice_ms", "voice-to-voice"),
            ("agent_to_caller_ms", "agent->caller"),
        ):
            s, t = row["sip"][key]["p50"], row["twilio"][key]["p50"]
            print(f"{label:<15} {name:<14} {s:6.0f} {t:7.0f} {t - s:11.0f}")
    write("channels", {"conditions": results})
    return 0
