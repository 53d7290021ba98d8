"""unit tier: spec.web: model errors, the route the operator publishes, the gateway reading it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError
from switchboard import reasons
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.config import OperatorConfig
from switchboard.voiceagent import streams
from switchboard_gateway.config import Route

pytestmark = pytest.mark.unit

PIPELINE = {
    "stt": {"provider": "pocketsphinx"},
    "llm": {"provider": "scripted", "script": {"intents": []}},
    "tts": {"provider": "flite"},
}
WEB = {
    "allowedOrigins": ["https://shop.example.com"],
    "embedKeySecretRef": {"name": "widget", "key": "embedKey"},
    "sessionTtl": "10m",
    "maxConcurrentSessions": 3,
    "demoPage": False,
}
CONFIG = OperatorConfig(
    gateway_public_url="https://gw.example.com", gateway_routes_secret=("switchboard", "routes")
)


def spec(**extra: Any) -> VoiceAgentSpec:
    return VoiceAgentSpec.model_validate({"pipeline": PIPELINE, **extra})


@pytest.mark.parametrize(
    ("web", "field"),
    [
        ({"allowedOrigins": ["https://shop.example.com/"]}, "web.allowedOrigins.0"),
        ({"allowedOrigins": ["shop.example.com"]}, "web.allowedOrigins.0"),
        ({"sessionTtl": "5s"}, "web.sessionTtl"),
        ({"maxConcurrentSessions": 0}, "web.maxConcurrentSessions"),
        ({"embedKeySecretRef": {"name": "w"}}, "web.embedKeySecretRef.key"),
    ],
)
def test_bad_web_names_the_field(web: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec(web=web)
    assert field in str(info.value).replace("\n", " ").replace(" ", ".")


class Published(dict[str, str | None]):
    async def put(self, ns: str, name: str, key: str, value: str | None, labels: Any) -> None:
        assert (ns, name) == ("switchboard", "routes")
        self[key] = value


async def test_web_route_is_published_with_the_key_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    published = Published()
    monkeypatch.setattr(streams.kube, "put_secret_key", published.put)
    secrets = {("shop", "widget", "embedKey"): "s3cret-embed"}

    async def read(ns: str, name: str, key: str) -> list[str]:
        if (ns, name, key) not in secrets:
            raise streams.kube.MissingSecretError(ns, name, key)
        return [secrets[ns, name, key]]

    out = await streams.sync_streams(CONFIG, "shop", "desk", "sb-desk", spec(web=WEB), read)
    assert out.ok and out.reason == reasons.STREAMS_ROUTED
    assert "https://gw.example.com/v1/web/shop/desk/session" in out.message
    text = published["shop_desk"] or ""
    assert "s3cret-embed" not in text
    route = Route.model_validate_json(text)  # the gateway takes exactly what the operator writes
    assert route.web is not None and route.providers == {}
    assert route.web.embed_key_sha256 == hashlib.sha256(b"s3cret-embed").hexdigest()
    assert (route.web.max_sessions, route.web.session_ttl) == (3, 600)
    assert route.web.allowed_origins == ("https://shop.example.com",)
    assert route.web.demo is False and "/demo/" not in out.message
    assert json.loads(text)["agentName"] == "sb-desk"

    del secrets["shop", "widget", "embedKey"]
    out = await streams.sync_streams(CONFIG, "shop", "desk", "sb-desk", spec(web=WEB), read)
    assert (out.ok, out.reason) == (False, reasons.SECRET_NOT_FOUND)
    assert out.message.startswith("spec.web.embedKeySecretRef:")
    assert published["shop_desk"] is None  # a removed key must not leave the agent open

    off = spec(web={**WEB, "enabled": False})
    out = await streams.sync_streams(CONFIG, "shop", "desk", "sb-desk", off, read)
    assert out == streams.NOT_DECLARED and published["shop_desk"] is None
    out = await streams.sync_streams(OperatorConfig(), "shop", "desk", "x", spec(web=WEB), read)
    assert out.reason == reasons.GATEWAY_NOT_CONFIGURED and out.message.startswith("spec.web:")
