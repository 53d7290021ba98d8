"""Unit tests of spec.mediaStreams: the model, the published route, status, gateway lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from switchboard import reasons
from switchboard.api.mediastreams import MediaStreams
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.config import OperatorConfig
from switchboard.scaling import Decision, ScalingParams
from switchboard.voiceagent import streams
from switchboard.voiceagent.status import MEDIA_STREAMS_READY, SpecOutcome, compose_status
from switchboard_gateway.config import GatewayConfig

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PARAMS = ScalingParams(
    calls_per_worker=1, warm_workers=1, min_workers=0, max_workers=10, scale_down_delay_s=30.0
)
UP = Decision(desired=1, raw_desired=1, ready=1, idle=1, warm_target=1)
TWO = {
    "providers": [
        {"provider": "twilio", "credentialsSecretRef": {"name": "twilio", "key": "authToken"}},
        {"provider": "telnyx", "credentialsSecretRef": {"name": "telnyx", "key": "publicKey"}},
    ]
}


def _spec(media: dict[str, Any] | None = None, **extra: Any) -> VoiceAgentSpec:
    doc: dict[str, Any] = {
        "pipeline": {
            "stt": {"provider": "pocketsphinx"},
            "llm": {"provider": "scripted", "script": {"intents": []}},
            "tts": {"provider": "flite"},
        },
        **extra,
    }
    if media is not None:
        doc["mediaStreams"] = media
    return VoiceAgentSpec.model_validate(doc)


def test_route_golden() -> None:
    media = MediaStreams.model_validate(TWO)
    doc = streams.route("shop", "desk", "shop/desk", media, {"twilio": "tok", "telnyx": "pub"})
    assert doc == {
        "namespace": "shop",
        "name": "desk",
        "agentName": "shop/desk",
        "roomPrefix": "stream-",
        "providers": {"twilio": {"authToken": "tok"}, "telnyx": {"publicKey": "pub"}},
    }
    # what the gateway parses: the same model it loads routes with
    assert GatewayConfig.model_validate(_gateway({"routes": [doc]})).route("shop", "desk")
    assert streams.webhooks("https://gw.example/", "shop", "desk", media) == [
        ("twilio", "https://gw.example/v1/twilio/shop/desk/answer"),
        ("telnyx", "https://gw.example/v1/telnyx/shop/desk/answer"),
    ]
    assert streams.route_key("shop", "desk.v2") == "shop_desk.v2"


@pytest.mark.parametrize(
    ("media", "field"),
    [
        ({"providers": []}, "mediaStreams.providers"),
        (
            {
                "providers": [
                    {"provider": "vonage", "credentialsSecretRef": {"name": "a", "key": "b"}}
                ]
            },
            "mediaStreams.providers.0.provider",
        ),
        ({"providers": [{"provider": "twilio"}]}, "mediaStreams.providers.0.credentialsSecretRef"),
        ({"providers": [TWO["providers"][0], TWO["providers"][0]]}, "providers[1].provider"),
        (
            {
                "providers": [
                    {"provider": "plivo", "credentialsSecretRef": {"name": "A!", "key": "k"}}
                ]
            },
            "credentialsSecretRef.name",
        ),
    ],
)
def test_bad_media_streams_name_the_field(media: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        _spec(media)
    assert field in str(err.value), str(err.value)


def _status(outcome: streams.StreamsOutcome | None, previous: list[dict[str, Any]] | None = None):
    spec = SpecOutcome(3, PARAMS, reasons.NO_TELEPHONY, "no telephony", streams=outcome)
    return compose_status(spec, UP, previous or [], now=NOW).to_wire()


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status["conditions"] if c["type"] == type_), None)


def test_status_routed_lists_webhooks_and_is_ready() -> None:
    hooks = (("twilio", "https://gw/v1/twilio/shop/desk/answer"),)
    out = streams.StreamsOutcome(True, True, reasons.STREAMS_ROUTED, "routed", hooks)
    status = _status(out)
    assert status["mediaStreams"] == {
        "webhooks": [{"provider": "twilio", "url": "https://gw/v1/twilio/shop/desk/answer"}]
    }
    assert [c["type"] for c in status["conditions"]] == [
        "LiveKitSynced",
        "WorkersReady",
        MEDIA_STREAMS_READY,
        "Ready",
    ]
    cond = _cond(status, MEDIA_STREAMS_READY)
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "StreamsRouted")
    assert cond["observedGeneration"] == 3
    assert _cond(status, "Ready")["status"] == "True"  # type: ignore[index]


def test_status_missing_credentials_is_not_ready_and_names_the_field() -> None:
    message = "spec.mediaStreams.providers[0].credentialsSecretRef: Secret 'twilio' not found"
    out = streams.StreamsOutcome(True, False, reasons.SECRET_NOT_FOUND, message, retry_s=30)
    status = _status(out)
    cond = _cond(status, MEDIA_STREAMS_READY)
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "SecretNotFound")
    ready = _cond(status, "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "SecretNotFound")
    assert "mediaStreams" not in status


def test_status_condition_removed_without_media_streams_and_kept_when_not_evaluated() -> None:
    routed = _status(streams.StreamsOutcome(True, True, reasons.STREAMS_ROUTED, "routed"))
    kept = _status(None, routed["conditions"])
    assert _cond(kept, MEDIA_STREAMS_READY) == _cond(routed, MEDIA_STREAMS_READY)
    gone = _status(streams.NOT_DECLARED, routed["conditions"])
    assert _cond(gone, MEDIA_STREAMS_READY) is None


class _Published:
    def __init__(self) -> None:
        self.data: dict[str, str | None] = {}


async def test_sync_streams_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    published = _Published()

    async def put(ns: str, name: str, key: str, value: str | None, labels: Any) -> None:
        assert (ns, name) == ("switchboard", "routes")
        published.data[key] = value

    monkeypatch.setattr(streams.kube, "put_secret_key", put)
    secrets = {("shop", "twilio", "authToken"): "tok", ("shop", "telnyx", "publicKey"): "pub"}

    async def read(ns: str, name: str, key: str) -> list[str]:
        if (ns, name, key) not in secrets:
            raise streams.kube.MissingSecretError(ns, name, key)
        return [secrets[ns, name, key]]

    config = OperatorConfig(
        gateway_public_url="https://gw", gateway_routes_secret=("switchboard", "routes")
    )
    out = await streams.sync_streams(config, "shop", "desk", "shop/desk", _spec(TWO), read)
    assert out.ok and out.reason == reasons.STREAMS_ROUTED
    route = json.loads(published.data["shop_desk"] or "")
    assert route["providers"]["twilio"] == {"authToken": "tok"}
    assert "tok" not in out.message and "pub" not in out.message

    del secrets["shop", "telnyx", "publicKey"]
    out = await streams.sync_streams(config, "shop", "desk", "shop/desk", _spec(TWO), read)
    assert (out.ok, out.reason, out.retry_s) == (False, reasons.SECRET_NOT_FOUND, 30.0)
    assert out.message.startswith("spec.mediaStreams.providers[1].credentialsSecretRef:")
    assert published.data["shop_desk"] is None  # withdrawn: stale credentials stop working

    own = _spec(TWO, livekit={"secretRef": {"name": "lk"}})
    out = await streams.sync_streams(config, "shop", "desk", "shop/desk", own, read)
    assert out.reason == reasons.STREAMS_NEED_DEFAULT_LIVEKIT and out.webhooks

    out = await streams.sync_streams(OperatorConfig(), "shop", "desk", "x", _spec(TWO), read)
    assert out.reason == reasons.GATEWAY_NOT_CONFIGURED
    out = await streams.sync_streams(config, "shop", "desk", "shop/desk", _spec(), read)
    assert out == streams.NOT_DECLARED and published.data["shop_desk"] is None


def _gateway(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "livekitUrl": "ws://lk",
        "livekitApiKey": "k",
        "livekitApiSecret": "s",
        "publicUrl": "https://gw",
        "streamKey": "x" * 32,
        "hashKey": "y" * 32,
        **extra,
    }


def test_gateway_reads_the_operators_routes_per_call(tmp_path: Path) -> None:
    config = GatewayConfig.model_validate(_gateway({"routesDir": str(tmp_path)}))
    assert config.route("shop", "desk") is None
    doc = {
        "namespace": "shop",
        "name": "desk",
        "agentName": "shop/desk",
        "providers": {"twilio": {"authToken": "tok"}},
    }
    (tmp_path / "shop_desk").write_text(json.dumps(doc))
    route = config.route("shop", "desk")
    assert route is not None and route.agent_name == "shop/desk"
    # a file under another key never serves: the path must name the route's own VoiceAgent
    (tmp_path / "other_desk").write_text(json.dumps(doc))
    assert config.route("other", "desk") is None
    # names the API server would refuse never build a path
    (tmp_path.parent / "x_y").write_text(json.dumps(doc))
    assert config.route("..", "x_y") is None and config.route("shop", "../desk") is None
    (tmp_path / "shop_broken").write_text("{not json")
    assert config.route("shop", "broken") is None
    (tmp_path / "shop_desk").unlink()  # withdrawn by the operator: refused at once
    assert config.route("shop", "desk") is None
