"""browser tier: the click-to-call widget in headless chromium, calling a real agent worker."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api

from tests.fixtures.browser import PageFactory, caller_wav
from tests.fixtures.gateway import GatewayFactory
from tests.support.agent_livekit import WorkerFactory
from tests.support.agent_otlp import OtlpReceiver
from tests.support.local_site import LocalSite
from tests.support.phrases import GREETING, HOURS, LineMatcher, speech_stretches

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parent.parent / ".run" / "test-artifacts"


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
    otlp = await OtlpReceiver().start()
    try:
        await demo_call(agent_worker, gateway, browser_page, lkapi, tmp_path, otlp)
    finally:
        await otlp.stop()


async def demo_call(
    agent_worker: WorkerFactory,
    gateway: GatewayFactory,
    browser_page: PageFactory,
    lkapi: api.LiveKitAPI,
    tmp_path: Path,
    otlp: OtlpReceiver,
) -> None:
    worker = agent_worker(telemetry={"otlpEndpoint": otlp.endpoint, "redactPII": True})
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
    assert LineMatcher().which(speech_stretches(pcm)[0]) == GREETING

    # (the LiveKit server is the session's: other tests' rooms may still be there)
    listed = (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms
    rooms = [r.name for r in listed if r.name.startswith("web_default_front-desk_")]
    assert len(rooms) == 1
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
    # the call's one trace says how it came in
    roots = await otlp.roots()
    assert [r.attributes.get("switchboard.channel") for r in roots] == ["web"]
    # and its summary: the browser hung up, the greeting was spoken and counted
    call = {k.removeprefix("switchboard.call."): v for k, v in roots[0].attributes.items()}
    assert call["result"] == "caller-hangup", call
    assert call["turns"] >= 1 and call["usage.tts_characters"] > 0
    assert call["cost.telephony_usd"] == 0.0  # no carrier on a browser call
    timings = {e["name"]: e["ms"] for e in await events(page, "timing")}
    assert timings["session"] <= timings["agent-joined"] <= timings["first-audio"]
    print(f"\n[browser] click -> session/agent joined/first audio (ms): {timings}")


EMBED_KEY = "the-real-embed-key"


async def embed(page: Any, site: LocalSite, gw_url: str, voiceagent: str, **data: str) -> Any:
    """Open a page of `site` that embeds the widget with one <script> tag; its locator."""
    attrs = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in data.items())
    await page.goto(
        site.page(
            "<!doctype html><title>shop</title><h1>Shop</h1>"
            f'<script src="{gw_url}/widget.js" data-voiceagent="{voiceagent}"{attrs}></script>'
        )
    )
    return page.locator(".switchboard-call")


async def shows_error(widget: Any, message: str) -> None:
    status = widget.get_by_role("status")
    await status.get_by_text(message).wait_for(timeout=30_000)
    call = widget.get_by_role("button", name="Call")
    assert await call.is_visible() and await call.evaluate(
        "b => b.getRootNode().activeElement === b"
    )


async def test_widget_error_states_show_a_human_message(
    gateway: GatewayFactory,
    browser_page: PageFactory,
    livekit_server: Any,
) -> None:
    def web_route(name: str, **web: Any) -> dict[str, Any]:
        return {"namespace": "shop", "name": name, "agentName": "no-worker", "web": web}

    shop = await LocalSite().start()  # a customer's site, on an origin of its own

    key_sha = hashlib.sha256(EMBED_KEY.encode()).hexdigest()
    gw = gateway(
        "no-worker",
        providers=(),
        extra_routes=[
            web_route("locked", allowedOrigins=["https://elsewhere.test"], demo=False),
            web_route("keyed", allowedOrigins=[shop.origin], embedKeySha256=key_sha),
            web_route("busy", allowedOrigins=[shop.origin], maxSessions=1),
            web_route("open", allowedOrigins=[shop.origin]),  # "no-worker": no agent comes
        ],
    )
    page = await browser_page()
    try:
        await error_states(page, shop, gw.url, livekit_server)
    finally:
        await shop.stop()


async def error_states(page: Any, shop: LocalSite, gw_url: str, livekit_server: Any) -> None:
    widget = await embed(page, shop, gw_url, "shop/locked")
    await widget.get_by_role("button", name="Call").click()
    await shows_error(widget, "This site is not allowed to call this agent.")

    widget = await embed(page, shop, gw_url, "shop/keyed", embed_key="not-the-key")
    await widget.get_by_role("button", name="Call").click()
    await shows_error(widget, "its embed key was refused")

    # the one session this agent takes is held by another caller (issued, not yet joined)
    async with aiohttp.ClientSession() as http:
        held = await http.post(
            f"{gw_url}/v1/web/shop/busy/session", headers={"Origin": shop.origin}
        )
        assert held.status == 200
    widget = await embed(page, shop, gw_url, "shop/busy")
    await widget.get_by_role("button", name="Call").click()
    await shows_error(widget, "All lines are busy. Please try again in a minute.")

    # a session and a room, but no worker serves the agent: the widget gives up, says why
    widget = await embed(page, shop, gw_url, "shop/open")
    await widget.get_by_role("button", name="Call").click()
    await shows_error(widget, "No one is free to take the call. Please try again in a minute.")

    livekit_server.stop_server()
    try:
        widget = await embed(page, shop, gw_url, "shop/open")
        await widget.get_by_role("button", name="Call").click()
        await shows_error(widget, "The voice service is unavailable right now.")
    finally:
        livekit_server.start_server()
    states = [e["state"] for e in await events(page, "state")]
    assert states == ["connecting", "error"], states  # this page's own widget, then nothing
