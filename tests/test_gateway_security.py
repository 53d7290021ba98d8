"""livekit tier: the gateway refuses unsigned webhooks and streams without a valid token."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fixtures.gateway import GatewayFactory
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import ProviderKeys

pytestmark = pytest.mark.livekit

PROVIDERS = ("twilio", "plivo", "telnyx")


def carrier(gw_url: str, provider: str, secret: str) -> CarrierCall:
    return CarrierCall(provider, gw_url, "default", "front-desk", secret)


async def ws_status(url: str) -> int:
    """The HTTP status of a WebSocket connect (101 when it was upgraded)."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as err:
            return err.status


async def test_webhook_signatures(gateway: GatewayFactory, provider_keys: ProviderKeys) -> None:
    gw = gateway("unused-agent")
    other = ProviderKeys()  # a different account's credentials: a mis-signed request
    for provider in PROVIDERS:
        good = carrier(gw.url, provider, provider_keys.secret(provider))
        forged = carrier(gw.url, provider, other.secret(provider))
        try:
            status, body = await good.post_answer(headers={})
            assert (status, provider) == (403, provider), body
            assert "bad_signature" in body
            status, _ = await forged.post_answer()
            assert (status, provider) == (403, provider)
            status, body = await good.post_answer()
            assert (status, provider) == (200, provider), body
            url, _ = good.stream_target(body)
            assert url.startswith(f"ws://127.0.0.1:{gw.port}/v1/{provider}/default/front-desk/")
        finally:
            await good.close()
            await forged.close()
    assert gw.metric("switchboard_gateway_webhooks_total", result="bad_signature") == 6
    log = gw.log()
    assert "+15550100200" not in log and provider_keys.twilio_token not in log


async def test_stream_tokens(gateway: GatewayFactory, provider_keys: ProviderKeys) -> None:
    gw = gateway("unused-agent")
    call = carrier(gw.url, "twilio", provider_keys.twilio_token)
    try:
        status, body = await call.post_answer()
        assert status == 200
        url, _ = call.stream_target(body)
        base, token = url.rsplit("/", 1)
        assert await ws_status(f"{base}/not-a-token") == 403
        assert await ws_status(f"{base}/{token[:-2]}xx") == 403  # forged MAC
        plivo = base.replace("/v1/twilio/", "/v1/plivo/")
        assert await ws_status(f"{plivo}/{token}") == 403  # minted for Twilio
        unknown = base.replace("/front-desk/", "/back-office/")
        assert await ws_status(f"{unknown}/{token}") == 403
        assert await ws_status(url) == 101
        assert await ws_status(url) == 403  # one stream per token
    finally:
        await call.close()
    assert gw.metric("switchboard_gateway_stream_rejects_total", provider="twilio") >= 3
    assert token not in gw.log()


async def test_provider_disabled(gateway: GatewayFactory, provider_keys: ProviderKeys) -> None:
    """A VoiceAgent that accepts only Twilio: Plivo/Telnyx webhooks and streams get 403."""
    gw = gateway("unused-agent", providers=("twilio",))
    for provider in ("plivo", "telnyx"):
        call = carrier(gw.url, provider, provider_keys.secret(provider))
        try:
            status, body = await call.post_answer()
            assert (status, provider) == (403, provider)
            assert "provider_disabled" in body
            stream = f"ws://127.0.0.1:{gw.port}/v1/{provider}/default/front-desk/stream/x.y"
            assert await ws_status(stream) == 403
        finally:
            await call.close()
