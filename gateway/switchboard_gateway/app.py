"""The gateway's HTTP surface: answer webhooks (signed) and stream sockets (per-call token)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from livekit import api

from switchboard_gateway import answers, metrics, signatures, tokens, webapi, webpages
from switchboard_gateway.config import GatewayConfig, Route
from switchboard_gateway.keys import CONFIG, LKAPI
from switchboard_gateway.plivo import Plivo
from switchboard_gateway.protocol import PROVIDERS, Dialect
from switchboard_gateway.session import StreamSession
from switchboard_gateway.telnyx import Telnyx
from switchboard_gateway.twilio import Twilio

logger = logging.getLogger("switchboard.gateway")

DIALECTS: dict[str, Dialect] = {"twilio": Twilio(), "plivo": Plivo(), "telnyx": Telnyx()}
# the webhook form field that names the call, per provider (Telnyx TeXML mirrors Twilio)
CALL_ID_FIELD = {"twilio": "CallSid", "plivo": "CallUUID", "telnyx": "CallSid"}
MAX_WEBHOOK_BYTES = 64 * 1024

SESSIONS = web.AppKey("sessions", dict[str, StreamSession])
USED_TOKENS = web.AppKey("used_tokens", dict[str, int])


def _forbidden(provider: str, reason: str, counter: str = "webhook") -> web.Response:
    if counter == "webhook":
        metrics.WEBHOOKS.labels(provider, reason).inc()
    else:
        metrics.STREAM_REJECTS.labels(provider, reason).inc()
    logger.info("%s refused: %s", counter, reason, extra={"provider": provider})
    return web.Response(status=403, text=f"forbidden: {reason}\n")


def _lookup(request: web.Request) -> tuple[str, Route | None]:
    provider = request.match_info["provider"]
    if provider not in PROVIDERS:
        raise web.HTTPNotFound(text="unknown provider\n")
    route = request.app[CONFIG].route(request.match_info["namespace"], request.match_info["name"])
    return provider, route


def _signed(
    provider: str,
    route: Route,
    url: str,
    body: bytes,
    form: Mapping[str, str],
    headers: Mapping[str, str],
) -> bool:
    creds = route.providers[provider]  # type: ignore[index]
    if provider == "twilio":
        sig = headers.get("X-Twilio-Signature", "")
        return signatures.twilio_valid(creds.token(), url, form, sig)
    if provider == "plivo":
        return signatures.plivo_v3_valid(
            creds.token(),
            url,
            form,
            headers.get("X-Plivo-Signature-V3-Nonce", ""),
            headers.get("X-Plivo-Signature-V3", ""),
        )
    return signatures.telnyx_valid(
        creds.key(),
        body,
        headers.get("telnyx-signature-ed25519", ""),
        headers.get("telnyx-timestamp", ""),
    )


async def answer(request: web.Request) -> web.Response:
    """POST …/answer: verify the provider's signature, mint a token, return the stream XML."""
    provider, route = _lookup(request)
    if route is None:
        return _forbidden(provider, "unknown_voiceagent")
    if provider not in route.providers:
        return _forbidden(provider, "provider_disabled")
    config = request.app[CONFIG]
    body = await request.read()
    if len(body) > MAX_WEBHOOK_BYTES:
        return _forbidden(provider, "too_large")
    post = await request.post()
    form = {k: v for k, v in post.items() if isinstance(v, str)}
    # the URL the carrier signed: the public one, not whatever the ingress forwarded to us
    url = config.public_url.rstrip("/") + request.path_qs
    if not _signed(provider, route, url, body, form, request.headers):
        return _forbidden(provider, "bad_signature")
    call_id = form.get(CALL_ID_FIELD[provider], "")
    if not call_id:
        metrics.WEBHOOKS.labels(provider, "bad_request").inc()
        raise web.HTTPBadRequest(text=f"{CALL_ID_FIELD[provider]}: required\n")
    token = tokens.mint(
        config.stream_key.get_secret_value().encode(),
        tokens.new_grant(provider, route.key, call_id),
    )
    stream_url = f"{config.ws_base()}/v1/{provider}/{route.namespace}/{route.name}/stream/{token}"
    caller, called = form.get("From", ""), form.get("To", "")
    if provider == "plivo":
        digits = {"from": caller.lstrip("+"), "to": called.lstrip("+")}
        document = answers.plivo_stream(stream_url, {k: v for k, v in digits.items() if v})
    elif provider == "telnyx":
        document = answers.texml_connect_stream(stream_url, {"callSid": call_id})
    else:
        params = {k: v for k, v in (("from", caller), ("to", called)) if v}
        document = answers.twiml_connect_stream(stream_url, params)
    metrics.WEBHOOKS.labels(provider, "answered").inc()
    return web.Response(text=document, content_type="application/xml")


async def stream(request: web.Request) -> web.StreamResponse:
    """GET …/stream/{token}: the carrier's WebSocket; refused with 403 before the upgrade."""
    provider, route = _lookup(request)
    if route is None:
        return _forbidden(provider, "unknown_voiceagent", "stream")
    if provider not in route.providers:
        return _forbidden(provider, "provider_disabled", "stream")
    config = request.app[CONFIG]
    raw = request.match_info["token"]
    try:
        grant = tokens.verify(
            config.stream_key.get_secret_value().encode(), raw, provider, route.key
        )
    except tokens.TokenError as err:
        return _forbidden(provider, str(err).removeprefix("token: ").replace(" ", "_"), "stream")
    used = request.app[USED_TOKENS]
    now = int(time.time())
    for key in [k for k, exp in used.items() if exp < now]:
        del used[key]
    if raw in used:
        return _forbidden(provider, "token_reused", "stream")
    used[raw] = grant.expires
    ws = web.WebSocketResponse(max_msg_size=config.max_message_bytes, heartbeat=None)
    await ws.prepare(request)
    session = StreamSession(ws, DIALECTS[provider], route, grant, config, request.app[LKAPI])
    sessions = request.app[SESSIONS]
    key = f"{provider}:{id(session)}"
    sessions[key] = session
    metrics.ACTIVE_STREAMS.labels(provider).inc()
    try:
        await session.run()
    finally:
        metrics.ACTIVE_STREAMS.labels(provider).dec()
        sessions.pop(key, None)
    return ws


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text=f"ok {len(request.app[SESSIONS])} streams\n")


def build_app(config: GatewayConfig) -> web.Application:
    app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
    app[CONFIG] = config
    app[SESSIONS] = {}
    app[USED_TOKENS] = {}

    async def livekit_client(app: web.Application) -> AsyncIterator[None]:
        async with api.LiveKitAPI(
            config.livekit_url, config.livekit_api_key, config.livekit_api_secret.get_secret_value()
        ) as client:
            app[LKAPI] = client
            yield

    app.cleanup_ctx.append(livekit_client)
    base = "/v1/{provider}/{namespace}/{name}"
    app.router.add_post(base + "/answer", answer)
    app.router.add_get(base + "/stream/{token}", stream)
    app.router.add_get("/healthz", healthz)
    webapi.add_routes(app)
    webpages.add_routes(app)
    return app
