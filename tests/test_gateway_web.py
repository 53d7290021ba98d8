"""livekit tier: POST /v1/web/…/session against a real gateway and livekit-server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from typing import Any

import aiohttp
import pytest
from livekit import api, rtc

from devstack.livekit import LiveKitStack
from tests.fixtures.gateway import GatewayFactory

pytestmark = pytest.mark.livekit

SITE = "https://shop.example.test"
EMBED_KEY = "widget-embed-key"


def web_route(name: str, **web: Any) -> dict[str, Any]:
    return {
        "namespace": "default",
        "name": name,
        "agentName": f"agent-{name}",
        "web": {"allowedOrigins": [SITE], **web},
    }


async def post(
    url: str, origin: str | None = SITE, **headers: str
) -> tuple[int, dict[str, Any], Any]:
    if origin:
        headers["Origin"] = origin
    async with aiohttp.ClientSession() as session, session.post(url, headers=headers) as resp:
        return resp.status, json.loads(await resp.text()), resp.headers


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_session_joins_a_fresh_room_with_the_agent_dispatched(
    gateway: GatewayFactory, livekit_server: LiveKitStack
) -> None:
    gw = gateway("unused-agent", extra_routes=[web_route("web-desk")])
    url = f"{gw.url}/v1/web/default/web-desk/session"
    status, body, headers = await post(url)
    assert status == 200, body
    assert headers["Access-Control-Allow-Origin"] == SITE
    assert body["url"] == livekit_server.url and body["room"].startswith("web_default_web-desk_")
    room = rtc.Room()
    await room.connect(body["url"], body["token"])  # the token alone creates the room
    try:
        async with api.LiveKitAPI(
            livekit_server.url, livekit_server.api_key, livekit_server.api_secret
        ) as lk:
            dispatches = await lk.agent_dispatch.list_dispatch(body["room"])
            assert [d.agent_name for d in dispatches] == ["agent-web-desk"]
        assert room.local_participant.attributes == {"switchboard.channel": "web"}
    finally:
        await room.disconnect()
    # the caller hung up: the room (and with it the agent's job) goes within seconds

    async def room_gone() -> bool:
        async with api.LiveKitAPI(
            livekit_server.url, livekit_server.api_key, livekit_server.api_secret
        ) as lk:
            rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[body["room"]]))
        return not rooms.rooms

    for _ in range(40):
        if await room_gone():
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("the web room outlived its caller by 20 s")
    # a second session gets another room
    status, second, _ = await post(url)
    assert status == 200 and second["room"] != body["room"]
    assert gw.metric("switchboard_gateway_web_sessions_total", result="created") == 2


async def test_refusals_name_the_reason(gateway: GatewayFactory) -> None:
    keyed = web_route("keyed", embedKeySha256=hashlib.sha256(EMBED_KEY.encode()).hexdigest())
    gw = gateway(
        "unused-agent",
        extra_routes=[keyed, web_route("tiny", maxSessions=1)],
        webBurst=20,
    )
    base = f"{gw.url}/v1/web/default"
    cases = [
        (f"{base}/front-desk/session", SITE, {}, 404, "unknown_voiceagent"),  # streams only
        (f"{base}/nobody/session", SITE, {}, 404, "unknown_voiceagent"),
        (f"{base}/keyed/session", "https://evil.example.test", {}, 403, "origin_not_allowed"),
        (f"{base}/keyed/session", None, {}, 403, "origin_required"),
        (f"{base}/keyed/session", SITE, {}, 401, "embed_key_required"),
        (f"{base}/keyed/session", SITE, {"X-Switchboard-Embed-Key": "nope"}, 403, "bad_embed_key"),
    ]
    for url, origin, headers, want_status, code in cases:
        status, body, _ = await post(url, origin, **headers)
        assert (status, body["error"]) == (want_status, code), url
        assert body["message"] and "token" not in body
    status, body, _ = await post(
        f"{base}/keyed/session", SITE, **{"X-Switchboard-Embed-Key": EMBED_KEY}
    )
    assert status == 200, body
    # the limit counts a token handed out even before its browser joins
    assert (await post(f"{base}/tiny/session"))[0] == 200
    status, body, headers = await post(f"{base}/tiny/session")
    assert (status, body["error"]) == (429, "too_many_sessions")
    assert int(headers["Retry-After"]) > 0
    # a preflight lets the browser send the POST (and read a refusal); it grants nothing
    async with (
        aiohttp.ClientSession() as session,
        session.options(
            f"{base}/keyed/session",
            headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
        ) as resp,
    ):
        assert resp.status == 204
        assert "X-Switchboard-Embed-Key" in resp.headers["Access-Control-Allow-Headers"]
    assert EMBED_KEY not in gw.log()


async def test_rate_limit_and_livekit_down(gateway: GatewayFactory) -> None:
    gw = gateway("unused-agent", extra_routes=[web_route("web-desk")], webBurst=2, webRatePerMin=1)
    url = f"{gw.url}/v1/web/default/web-desk/session"
    assert [(await post(url))[0] for _ in range(2)] == [200, 200]
    status, body, headers = await post(url)
    assert (status, body["error"]) == (429, "rate_limited") and int(headers["Retry-After"]) >= 30
    down = gateway(
        "unused-agent",
        extra_routes=[web_route("web-desk")],
        livekitUrl=f"http://127.0.0.1:{closed_port()}",
    )
    status, body, _ = await post(f"{down.url}/v1/web/default/web-desk/session")
    assert (status, body["error"]) == (503, "livekit_unavailable")
