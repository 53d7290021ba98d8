"""`python -m bench web [--calls N]`: click-to-call from the demo page, timed in a real browser.

Headless Debian chromium (Playwright) opens the gateway's demo page and clicks Call; the widget
reports, in page time from the click: the session token (POST …/session answered), connected
(the browser in the room), the agent joined (its participant there), and the first greeting
audio (the received track's level above speech level, as the page plays it). Each call is hung
up and the next waits until the worker has freed its slot, so every call meets a warm worker,
as a warm pool gives it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from bench.common import summary, write
from devstack import tools
from devstack.livekit import LiveKitStack
from tests.fixtures.browser import fake_media_args
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker
from tests.support.gateway_proc import GatewayProcess

EVENTS_SCRIPT = """
window.__timings = {};
document.addEventListener('switchboard:timing', (ev) => {
  window.__timings[ev.detail.name] = ev.detail.ms;
});
"""
STAGES = ("session", "connected", "agent-joined", "first-audio")
TARGET_FIRST_AUDIO_MS = 1500.0
IDLE_SETTLE_S = 5.0


def silent_wav(path: Path, seconds: float = 2.0) -> Path:
    """Chromium's fake microphone beeps without a file; the caller here says nothing."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(int(32000 * seconds)))
    return path


async def wait_idle(worker: AgentWorker, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while worker.metric("switchboard_agent_active_calls") != 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker kept its call after the hang-up")
        await asyncio.sleep(0.2)


async def one_call(browser: Any, url: str) -> dict[str, float]:
    context = await browser.new_context()
    await context.add_init_script(EVENTS_SCRIPT)
    page = await context.new_page()
    try:
        await page.goto(url)
        widget = page.locator(".switchboard-call")
        await widget.get_by_role("button", name="Call").click()
        # polled from here: the demo page's CSP (no eval) refuses wait_for_function
        deadline = time.monotonic() + 30
        timings: dict[str, float] = {}
        while "first-audio" not in timings:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no greeting audio within 30 s (got {timings})")
            await asyncio.sleep(0.05)
            timings = await page.evaluate("window.__timings")
        await widget.get_by_role("button", name="Hang up").click()
        return timings
    finally:
        await context.close()


async def run(workdir: Path, calls: int) -> dict[str, Any]:
    stack = LiveKitStack(workdir / "livekit").start()
    worker = gw = None
    try:
        doc = offline_config_doc(agentName="bench-web")
        worker = AgentWorker(
            workdir / "agent", doc, stack.url, stack.api_key, stack.api_secret
        ).start()
        route = {"namespace": "default", "name": "front-desk", "agentName": "bench-web", "web": {}}
        gw = GatewayProcess(
            workdir / "gateway", stack.url, stack.api_key, stack.api_secret, routes=[route]
        ).start()
        chromium = tools.chromium()
        if chromium is None:
            raise FileNotFoundError("chromium is not installed (make tools)")
        args = fake_media_args(silent_wav(workdir / "quiet.wav"))
        rows: list[dict[str, float]] = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(chromium), args=args)
            url = f"{gw.url}/demo/default/front-desk"
            for i in range(calls + 1):  # the first call warms the browser and the worker up
                await wait_idle(worker)
                # a free worker, as the warm pool keeps one: livekit-server learns the worker
                # is free from its next status update (every few seconds), and livekit-agents
                # prewarms the next job process
                await asyncio.sleep(IDLE_SETTLE_S)
                timings = await one_call(browser, url)
                print(f"  call {i}: " + ", ".join(f"{k} {timings[k]:.0f} ms" for k in STAGES))
                if i:
                    rows.append(timings)
            await browser.close()
        await wait_idle(worker)
        return {stage: summary([r[stage] for r in rows]) for stage in STAGES}
    finally:
        for proc in (gw, worker):
            if proc is not None:
                proc.stop()
        stack.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web")
    parser.add_argument("--calls", type=int, default=10, help="timed calls (after one warm-up)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        result = asyncio.run(run(Path(tmp), args.calls))
    print(f"\n{'click ->':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for stage in STAGES:
        s = result[stage]
        print(f"{stage:<16} {s['p50']:8.0f} {s['p95']:8.0f} {s['max']:8.0f}")
    met = result["first-audio"]["p50"] <= TARGET_FIRST_AUDIO_MS
    print(
        f"target click -> first audio <= {TARGET_FIRST_AUDIO_MS:.0f} ms p50: "
        + ("met" if met else "NOT met")
    )
    write(
        "web",
        {"calls": args.calls, "click_ms": result, "target_first_audio_ms": TARGET_FIRST_AUDIO_MS},
    )
    return 0
