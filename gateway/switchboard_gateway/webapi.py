"""POST /v1/web/{namespace}/{name}/session: a LiveKit token for one browser call, with CORS."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

import aiohttp
from aiohttp import web
from livekit import api

from switchboard_gateway import metrics
from switchboard_gateway.config import Route, WebAccess
from switchboard_gateway.keys import CONFIG, LKAPI
from switchboard_gateway.websessions import (
    EMBED_KEY_HEADER,
    RateLimiter,
    Refusal,
    SessionLedger,
    check_embed_key,
    check_origin,
    client_ip,
    room_prefix,
    session_token,
)

logger = logging.getLogger("switchboard.gateway")

LEDGER = web.AppKey("ledger", SessionLedger)
LIMITER = web.AppKey("limiter", RateLimiter)
# what a LiveKit API call raises when the server refuses, times out or is unreachable
LIVEKIT_ERRORS = (TimeoutError, api.TwirpError, aiohttp.ClientError, OSError)
EXPIRIES = web.AppKey("expiries", set[asyncio.Task[None]])


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _cors(origin: str | None) -> dict[str, str]:
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _refused(err: Refusal, origin: str | None) -> web.Response:
    metrics.WEB_SESSIONS.labels(err.code).inc()
    logger.info("web session refused: %s", err.code)
    headers = _cors(origin)
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return web.Response(
        status=err.status, text=err.body(), content_type="application/json", headers=headers
    )


def _web_route(request: web.Request) -> tuple[Route, WebAccess]:
    config = request.app[CONFIG]
    route = config.route(request.match_info["namespace"], request.match_info["name"])
    if route is None or route.web is None:
        raise Refusal(404, "unknown_voiceagent", "no such agent takes web calls")
    return route, route.web


async def preflight(request: web.Request) -> web.Response:
    """OPTIONS: answered for any origin, so the widget can read the POST's refusal message.

    The POST decides; a preflight only lets the browser send it (a token is never issued
    here, and the POST refuses an origin outside the allow-list).
    """
    origin = request.headers.get("Origin")
    try:
        _web_route(request)
    except Refusal as err:
        return _refused(err, origin)
    headers = {
        **_cors(origin),
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": f"Content-Type, {EMBED_KEY_HEADER}",
        "Access-Control-Max-Age": "600",
    }
    return web.Response(status=204, headers=headers)


async def _live_rooms(lkapi: api.LiveKitAPI) -> set[str]:
    try:
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
    except LIVEKIT_ERRORS as err:
        logger.warning("LiveKit unreachable for a web session: %s", type(err).__name__)
        raise Refusal(503, "livekit_unavailable", "the voice service is unavailable") from None
    return {room.name for room in listed.rooms}


async def _expire(lkapi: api.LiveKitAPI, room: str, after_s: float) -> None:
    """The session TTL: LiveKit refreshes a joined token, so the gateway ends the room."""
    await asyncio.sleep(after_s)
    try:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
    except LIVEKIT_ERRORS as err:
        logger.warning("web session expiry failed: %s", type(err).__name__)


async def create_session(request: web.Request) -> web.Response:
    origin = request.headers.get("Origin")
    app = request.app
    config = app[CONFIG]
    now = time.monotonic()
    try:
        ip = client_ip(
            request.remote, request.headers.get("X-Forwarded-For"), config.web_trusted_proxies
        )
        wait = app[LIMITER].allow(ip, now)
        if wait is not None:
            raise Refusal(429, "rate_limited", "too many calls started; try again shortly", wait)
        route, access = _web_route(request)
        allowed = check_origin(access, origin, _origin_of(config.public_url))
        check_embed_key(access, request.headers.get(EMBED_KEY_HEADER))
        prefix = room_prefix(route)
        live = await _live_rooms(app[LKAPI])
        if app[LEDGER].count(prefix, live, now) >= access.max_sessions:
            raise Refusal(429, "too_many_sessions", "all lines are busy; try again in a minute", 30)
    except Refusal as err:
        return _refused(err, origin)  # CORS on refusals too: the widget shows the message
    room = prefix + secrets.token_hex(6)
    app[LEDGER].issue(room, now)
    token = session_token(
        config.livekit_api_key,
        config.livekit_api_secret.get_secret_value(),
        route,
        room,
        "web-" + secrets.token_hex(6),
    )
    task = asyncio.create_task(_expire(app[LKAPI], room, access.session_ttl))
    app[EXPIRIES].add(task)
    task.add_done_callback(app[EXPIRIES].discard)
    metrics.WEB_SESSIONS.labels("created").inc()
    body = {
        "url": config.web_livekit_url or config.livekit_url,
        "token": token,
        "room": room,
        "ttlSeconds": access.session_ttl,
    }
    return web.Response(
        text=json.dumps(body), content_type="application/json", headers=_cors(allowed)
    )


def add_routes(app: web.Application) -> None:
    """Mount the session endpoint; expiry timers are cancelled when the app stops."""
    config = app[CONFIG]
    app[LEDGER] = SessionLedger()
    app[LIMITER] = RateLimiter(config.web_rate_per_min, config.web_burst)
    app[EXPIRIES] = set()

    async def cancel_expiries(app: web.Application) -> None:
        expiries: set[asyncio.Task[None]] = app[EXPIRIES]
        for task in list(expiries):
            task.cancel()

    app.on_shutdown.append(cancel_expiries)
    path = "/v1/web/{namespace}/{name}/session"
    app.router.add_post(path, create_session)
    app.router.add_route("OPTIONS", path, preflight)
