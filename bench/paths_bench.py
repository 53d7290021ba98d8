"""`python -m bench paths [--calls N]`: voice-to-voice over web, SIP over WebSocket and SIP.

One VoiceAgent worker (pocketsphinx, scripted LLM, flite) answers the same question on the three
ways in, call after call, interleaved so that drift in the machine's load hits all three:

- web: headless chromium opens the gateway's demo page and clicks Call (WebRTC to LiveKit);
- sipws: a JsSIP softphone in chromium registers and calls through the SBC (Kamailio's
  websocket module, rtpengine turning DTLS-SRTP/ICE into RTP) into livekit-sip;
- sip: a SIP UA in this process sends PCMU RTP straight to livekit-sip.

Everything is on loopback. voice-to-voice is from the end of the caller's question to the first
loud block of the agent's answer at the caller. In the browser both are timed in the page, on
one AudioContext clock: the microphone as the page captured it, the answer as the page plays it
(after WebRTC's jitter buffer and decoder). The SIP UA times the last loud packet it sent and
the first loud packet that arrives, with no jitter buffer: the browser paths carry that
buffer's delay on top, as a caller's ear does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import Browser, async_playwright
from switchboard_contract.channels import ATTR_CHANNEL, SBC_CHANNEL_HEADER

from bench.common import summary, write
from bench.voice_common import CALLER, NUMBER, PIPELINE, QUESTION, provision
from bench.web_bench import IDLE_SETTLE_S, wait_idle
from devstack import tools
from devstack.livekit import LiveKitStack
from devstack.sbc import Sbc
from devstack.sip import SipBridge
from devstack.sipua.audio import flite_prompt
from devstack.sipua.rtp import SPEECH_RMS
from devstack.sipua.ua import SipUA
from tests.fixtures.browser import caller_wav, fake_media_args
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker
from tests.support.gateway_proc import GatewayProcess
from tests.support.local_site import LocalSite

HERE = Path(__file__).resolve().parent
LEVELS_SCRIPT = (HERE / "browser_levels.js").read_text()
PHONE_JS = HERE.parent / "tests" / "support" / "sipws_phone.js"
PHONE_PAGE = '<!doctype html><script src="/jssip.js"></script><script src="/phone.js"></script>'
DOMAIN = "switchboard.local"
AGENT = "bench-paths"
CHANNELS = ("sip", "web", "sipws")
LEAD_S, TAIL_S = 5.0, 5.0  # quiet before and after each question (the greeting comes first)
LOUD = SPEECH_RMS / 32768  # the SIP tests' speech level, as a float sample's RMS
SPEECH_GAP_S = 0.5  # quiet this long ends the caller's question
BUSY_S = 1.0  # a question the agent talked over in its last second is not a turn
ANSWER_S = 6.0  # an answer starts within this long, or the question went unanswered

Levels = Sequence[Sequence[float]]  # (seconds, RMS) blocks on one clock


def speech_ends(mic: Levels) -> list[float]:
    """When each of the caller's utterances ended: the end of its last loud block, followed
    by at least SPEECH_GAP_S of quiet (an utterance cut off by the end of the series is not)."""
    if len(mic) < 2:
        return []
    block = statistics.median(b[0] - a[0] for a, b in itertools.pairwise(mic))
    louds = [t for t, rms in mic if rms > LOUD]
    ends = [a + block for a, b in itertools.pairwise(louds) if b - a > SPEECH_GAP_S]
    if louds and mic[-1][0] - louds[-1] > SPEECH_GAP_S:
        ends.append(louds[-1] + block)
    return ends


def turn_latencies(ends: Sequence[float], agent: Levels) -> list[float | None]:
    """Seconds from each question's end to the agent's first loud block after it (None: no
    answer within ANSWER_S). Questions the agent was talking over, or too close to the end of
    what was heard to tell, are left out."""
    if not agent:
        return [None for _ in ends]
    louds = [t for t, rms in agent if rms > LOUD]
    heard_until = agent[-1][0]
    out: list[float | None] = []
    for end in ends:
        if any(end - BUSY_S <= t <= end for t in louds):
            continue
        first = next((t for t in louds if t > end), None)
        if first is not None and first - end <= ANSWER_S:
            out.append(first - end)
        elif heard_until - end > ANSWER_S:
            out.append(None)
    return out


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


class Paths:
    """livekit-server, livekit-sip, the SBC, the gateway and one worker, on loopback."""

    def __init__(self, workdir: Path, questions: int) -> None:
        self.workdir = workdir
        self.wav = caller_wav(workdir / "caller.wav", QUESTION, LEAD_S, TAIL_S)
        self.listen_s = wav_seconds(self.wav) * questions + 2.0
        self.questions = questions
        self.question = flite_prompt(QUESTION)

    async def __aenter__(self) -> Paths:
        w = self.workdir
        self.stack = LiveKitStack(w / "livekit").start()
        self.bridge = SipBridge(w / "sip", self.stack).start()
        # the trunk believes the SBC's channel header, as the chart's example trunk does
        await provision(self.stack, AGENT, "127.0.0.1/32", {SBC_CHANNEL_HEADER: ATTR_CHANNEL})
        self.sbc = Sbc(w / "sbc", f"127.0.0.1:{self.bridge.port}", domain=DOMAIN).start()
        route = {"namespace": "default", "name": "front-desk", "agentName": AGENT, "web": {}}
        keys = (self.stack.url, self.stack.api_key, self.stack.api_secret)
        self.gw = GatewayProcess(w / "gateway", *keys, routes=[route]).start()
        doc = offline_config_doc(agentName=AGENT, pipeline=PIPELINE)
        self.worker = AgentWorker(w / "agent", doc, *keys).start()
        self.ua = await SipUA(user="bench", host="127.0.0.1").start()
        self.site = await LocalSite({"jssip.js": tools.jssip(), "phone.js": PHONE_JS}).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.site.stop()
        await self.ua.close()
        for proc in (self.worker, self.gw, self.sbc, self.bridge, self.stack):
            proc.stop()

    async def web(self, browser: Browser) -> list[float | None]:
        context = await browser.new_context()
        await context.add_init_script(LEVELS_SCRIPT)
        try:
            page = await context.new_page()
            await page.goto(f"{self.gw.url}/demo/default/front-desk")
            widget = page.locator(".switchboard-call")
            await widget.get_by_role("button", name="Call").click()
            await asyncio.sleep(self.listen_s)
            levels = await page.evaluate("window.__levels")
            await widget.get_by_role("button", name="Hang up").click()
        finally:
            await context.close()
        return turn_latencies(speech_ends(levels["mic"]), levels["agent"])

    async def sipws(self, browser: Browser) -> list[float | None]:
        context = await browser.new_context()
        await context.add_init_script(LEVELS_SCRIPT)
        try:
            page = await context.new_page()
            await page.goto(self.site.page(PHONE_PAGE))
            call = f"phone.call('{self.sbc.ws_url}', '{DOMAIN}', 'bench', '{NUMBER}')"
            await page.evaluate(call)
            await asyncio.sleep(self.listen_s)
            levels = await page.evaluate("window.__levels")
            await page.evaluate("phone.hangUp()")
        finally:
            await context.close()
        return turn_latencies(speech_ends(levels["mic"]), levels["agent"])

    async def sip(self) -> list[float | None]:
        call = await self.ua.invite(self.bridge.uri(NUMBER), caller=CALLER)
        rtp, ends = call.rtp, []
        try:
            for _ in range(self.questions):  # the browser's pace: quiet, the question, quiet
                await asyncio.sleep(LEAD_S)
                rtp.play(self.question)
                while rtp.playing:
                    await asyncio.sleep(0.01)
                ends.append(rtp.speech_ended_at)
                await asyncio.sleep(TAIL_S)
        finally:
            await call.bye()
            await call.close()
        agent = [(r.at, float(np.sqrt(np.mean((r.pcm / 32768.0) ** 2)))) for r in rtp.received]
        return turn_latencies(ends, agent)


async def run(workdir: Path, calls: int, questions: int) -> dict[str, Any]:
    chromium = tools.chromium()
    if chromium is None or not tools.jssip().exists():
        raise FileNotFoundError("chromium or the JsSIP bundle is missing (make tools)")
    turns: dict[str, list[float | None]] = {ch: [] for ch in CHANNELS}
    async with Paths(workdir, questions) as paths, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), args=fake_media_args(paths.wav)
        )
        for i in range(calls + 1):  # round 0 warms the browser, the SBC and the worker up
            for ch in CHANNELS:
                await wait_idle(paths.worker)
                await asyncio.sleep(IDLE_SETTLE_S)  # a free, prewarmed worker: a warm pool
                got = await (paths.sip() if ch == "sip" else getattr(paths, ch)(browser))
                shown = ", ".join("-" if t is None else f"{t * 1000:.0f}" for t in got)
                print(f"  round {i} {ch:<6} voice-to-voice ms: {shown}", flush=True)
                if i:
                    turns[ch] += got
        await browser.close()
    return {
        ch: {
            "voice_to_voice_ms": summary([t * 1000 for t in v if t is not None]),
            "answered": sum(t is not None for t in v),
            "asked": len(v),
        }
        for ch, v in turns.items()
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench paths")
    parser.add_argument("--calls", type=int, default=3, help="timed calls per path")
    parser.add_argument("--questions", type=int, default=3, help="questions per call")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-paths-") as tmp:
        result = asyncio.run(run(Path(tmp), args.calls, args.questions))
    sip = result["sip"]["voice_to_voice_ms"]["p50"]
    print(f"\n{'path':<8} {'p50 ms':>8} {'p95 ms':>8} {'-SIP p50':>9} {'answered':>9}")
    for ch in CHANNELS:
        v = result[ch]["voice_to_voice_ms"]
        answered = f"{result[ch]['answered']}/{result[ch]['asked']}"
        print(f"{ch:<8} {v['p50']:8.0f} {v['p95']:8.0f} {v['p50'] - sip:9.0f} {answered:>9}")
    write("paths", {"calls": args.calls, "questions": args.questions, "paths": result})
    return 0
