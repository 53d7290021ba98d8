"""browser tier: the click-to-call widget in headless chromium, calling a real agent worker."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import api

from tests.fixtures.browser import PageFactory, caller_wav
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_livekit import WorkerFactory
from tests.support.phrases import GREETING, HOURS, LineMatcher

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parent.parent / ".run" / "test-artifacts"


def first_speech(pcm16k: bytes, gap_s: float = 0.8, level: float = 300.0) -> bytes:
    """The first stretch of speech in 16 kHz PCM: from the first loud 20 ms frame to the
    first `gap_s` of quiet after it (the capture also holds later replies)."""
    frames = np.frombuffer(pcm16k, dtype="<i2")[: len(pcm16k) // 640 * 320].reshape(-1, 320)
    loud = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) > level
    start = int(np.argmax(loud))
    assert loud[start], "the capture holds no speech"
    quiet_run, end = 0, len(loud)
    for i in range(start, len(loud)):
        quiet_run = 0 if loud[i] else quiet_run + 1
        if quiet_run * 0.02 >= gap_s:
            end = i
            break
    return frames[start:end].tobytes()


async def events(page: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in await page.evaluate("window.__events") if e["type"] == kind]


async def wait_transcript(page: Any, text: str, timeout_s: float) -> None:
    widget = page.locator(".switchboard-call")
    await widget.get_by_role("log").get_by_text(text).first.wait_for(timeout=timeout_s * 1000)


async def test_demo_page_call_greets_answers_and_hangs_up(
    agent_worker: WorkerFactory,
    gateway: GatewayFactory,
    browser_page: PageFactory,
    lkapi: api.LiveKitAPI,
    tmp_path: Path,
) -> None:
    worker = agent_worker()
    gw = gateway(worker.config["agentName"], providers=(), web={})
    # the caller asks once the greeting is over, and again each loop of the fake microphone
    page = await browser_page(caller_wav(tmp_path / "caller.wav", "Are you open on Monday?", 7, 9))
    await page.goto(f"{gw.url}/demo/default/front-desk")
    widget = page.locator(".switchboard-call")
    await widget.get_by_role("button", name="Call").click()

    await wait_transcript(page, GREETING, 60)
    await wait_transcript(page, HOURS, 90)  # the scripted answer to the spoken question
    assert await widget.get_by_role("status").text_content() == "In a call with front-desk"
    assert await widget.get_by_role("log").get_by_text("You:").count() >= 1  # the caller's STT
    assert await widget.get_by_role("meter", name="Microphone level").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await widget.screenshot(path=str(ARTIFACTS / "widget-mid-call.png"))
    assert worker.metric("switchboard_agent_active_calls") == 1

    # what the page received, recorded with MediaRecorder and decoded there: the greeting
    pcm = base64.b64decode(await page.evaluate("window.__capture.stop()"))
    assert LineMatcher().which(first_speech(pcm)) == GREETING

    rooms = [r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms]
    assert len(rooms) == 1 and rooms[0].startswith("web_default_front-desk_")
    await widget.get_by_role("button", name="Hang up").click()
    assert await widget.get_by_role("status").text_content() == "You hung up."
    # the room closes and the worker's slot frees (the job ends with its caller gone)
    for _ in range(60):
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=rooms))
        if not listed.rooms and worker.metric("switchboard_agent_active_calls") == 0:
            break
        await asyncio.sleep(0.5)
    assert not listed.rooms, "the room outlived the hang-up"
    assert worker.metric("switchboard_agent_active_calls") == 0
    timings = {e["name"]: e["ms"] for e in await events(page, "timing")}
    assert timings["session"] <= timings["agent-joined"] <= timings["first-audio"]
    print(f"\n[browser] click -> session/agent joined/first audio (ms): {timings}")
