"""Unit tests of the operator<->agent contract: model validation, aliases, committed schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError
from switchboard_contract import AgentConfig, Stage, secret_env
from switchboard_contract.channels import Channel, channel_of
from switchboard_contract.env import HTTP_PORT
from switchboard_contract.schema import SCHEMA_FILE, agent_config_schema, render

from tests.support.agent_configs import offline_config, offline_config_doc

pytestmark = pytest.mark.unit


def test_committed_schema_matches_model() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == agent_config_schema()
    assert SCHEMA_FILE.read_text() == render()


def test_sample_validates_against_schema_and_model() -> None:
    doc = offline_config_doc()
    jsonschema.Draft202012Validator(agent_config_schema()).validate(doc)
    cfg = AgentConfig.model_validate(doc)
    assert cfg.agent_name == "switchboard-test-agent"
    assert cfg.pipeline is not None and cfg.pipeline.llm.script is not None
    assert cfg.telemetry.redact_pii is True


def test_round_trip_is_camel_case() -> None:
    cfg = offline_config(
        pipeline={
            "stt": {"provider": "deepgram", "model": "nova-3"},
            "llm": {"provider": "openai", "model": "llama3", "baseURL": "http://127.0.0.1:1/v1"},
            "tts": {"provider": "cartesia", "voice": "v"},
        }
    )
    dumped = cfg.model_dump(mode="json", exclude_none=True)
    assert dumped["pipeline"]["llm"]["baseURL"] == "http://127.0.0.1:1/v1"
    assert dumped["telemetry"]["redactPII"] is True
    assert "maxCallDuration" in dumped and "callsPerWorker" in dumped
    assert AgentConfig.model_validate(dumped) == cfg
    jsonschema.Draft202012Validator(agent_config_schema()).validate(dumped)


def test_defaults() -> None:
    doc = offline_config_doc()
    for key in ("callsPerWorker", "telemetry", "transferTargets", "greeting"):
        doc.pop(key)
    doc["pipeline"]["llm"]["script"]["intents"] = []
    cfg = AgentConfig.model_validate(doc)
    assert cfg.calls_per_worker == 1
    assert cfg.telemetry.redact_pii is True and cfg.telemetry.sampling_ratio == 1.0
    assert cfg.greeting is None


def test_frozen() -> None:
    cfg = offline_config()
    with pytest.raises(ValidationError):
        cfg.calls_per_worker = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(realtime={"provider": "openai"}),  # both pipeline and realtime
        lambda d: d.pop("pipeline"),  # neither
        lambda d: d.update(callsPerWorker=0),
        lambda d: d.update(maxCallDuration=0),
        lambda d: d.update(unknownKey=1),
        lambda d: d.update(transferTargets=[{"name": "x", "uri": "http://x"}]),
        lambda d: d.update(transferTargets=[]),  # script references 'frontdesk'
        lambda d: d["pipeline"]["llm"].pop("script"),
        lambda d: d["pipeline"]["stt"].update(provider="whisper"),
        lambda d: d["telemetry"].update(samplingRatio=1.5),
        lambda d: d["pipeline"]["llm"]["script"]["intents"][0].update(action={"type": "transfer"}),
    ],
)
def test_rejects_invalid(mutate: Any) -> None:
    doc = offline_config_doc()
    mutate(doc)
    with pytest.raises(ValidationError):
        AgentConfig.model_validate(doc)


def test_realtime_only_config() -> None:
    doc = offline_config_doc()
    doc.pop("pipeline")
    doc["realtime"] = {"provider": "openai", "model": "gpt-realtime", "voice": "marin"}
    cfg = AgentConfig.model_validate(doc)
    assert cfg.realtime is not None and cfg.pipeline is None


def test_env_names_and_ports() -> None:
    assert [secret_env(s) for s in Stage] == [
        "SWITCHBOARD_SECRET_STT",
        "SWITCHBOARD_SECRET_LLM",
        "SWITCHBOARD_SECRET_TTS",
        "SWITCHBOARD_SECRET_REALTIME",
    ]
    assert HTTP_PORT == 8081


@pytest.mark.parametrize(
    ("value", "is_sip", "channel"),
    [
        ("web", False, "web"),
        ("sipws", True, "sipws"),  # the SBC's header, mapped by the trunk
        ("twilio", False, "twilio"),
        (None, True, "sip"),
        (None, False, "livekit"),
        ("anything-a-caller-sends", True, "sip"),  # never a new label value
        ("WEB", False, "livekit"),
    ],
)
def test_the_channel_is_one_of_the_known_names(
    value: str | None, is_sip: bool, channel: str
) -> None:
    assert channel_of(value, is_sip=is_sip) == channel
    assert channel_of(value, is_sip=is_sip) in set(Channel)
