"""Unit tests: every cloud plugin (and the local ones) built from config, without network."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.plugins import cartesia, deepgram, elevenlabs, openai, silero
from switchboard_agent.local import FliteTTS, PocketsphinxSTT, ScriptedLLM
from switchboard_agent.providers import (
    ProviderConfigError,
    build_llm,
    build_pipeline,
    build_realtime,
    build_stt,
    build_tts,
    plugin_kwargs,
)
from switchboard_contract import LlmConfig, RealtimeConfig, SttConfig, TtsConfig

from tests.support.agent_configs import offline_config

pytestmark = pytest.mark.unit

KEYS = {
    "SWITCHBOARD_SECRET_STT": "stt-key",
    "SWITCHBOARD_SECRET_LLM": "llm-key",
    "SWITCHBOARD_SECRET_TTS": "tts-key",
    "SWITCHBOARD_SECRET_REALTIME": "rt-key",
}


def test_deepgram_stt() -> None:
    cfg = SttConfig(
        provider="deepgram",
        model="nova-3",
        language="en-GB",
        options={"smart_format": "true", "endpointing_ms": "300"},
    )
    got = build_stt(cfg, KEYS)
    assert isinstance(got, deepgram.STT)
    assert got.model == "nova-3"
    assert got._opts.smart_format is True and got._opts.endpointing_ms == 300
    assert got._api_key == "stt-key"


def test_openai_stt() -> None:
    got = build_stt(SttConfig(provider="openai", model="gpt-4o-transcribe"), KEYS)
    assert isinstance(got, openai.STT)
    assert got.model == "gpt-4o-transcribe"


def test_openai_llm_with_compatible_base_url() -> None:
    cfg = LlmConfig(
        provider="openai",
        model="llama3.1",
        base_url="http://127.0.0.1:11434/v1",
        temperature=0.2,
        options={"max_completion_tokens": "200"},
    )
    got = build_llm(cfg, {})  # a self-hosted server needs no key
    assert isinstance(got, openai.LLM)
    assert got.model == "llama3.1"
    assert str(got._client.base_url).startswith("http://127.0.0.1:11434/v1")
    assert got._opts.temperature == 0.2
    assert got._opts.max_completion_tokens == 200


def test_openai_llm_uses_stage_key() -> None:
    got = build_llm(LlmConfig(provider="openai", model="gpt-4.1-mini"), KEYS)
    assert isinstance(got, openai.LLM)
    assert got._client.api_key == "llm-key"


def test_cartesia_tts() -> None:
    cfg = TtsConfig(provider="cartesia", model="sonic-3", voice="voice-id", language="en")
    got = build_tts(cfg, KEYS)
    assert isinstance(got, cartesia.TTS)
    assert got.model == "sonic-3"
    assert got._opts.voice == "voice-id" and got._opts.api_key == "tts-key"


def test_elevenlabs_tts() -> None:
    cfg = TtsConfig(
        provider="elevenlabs",
        model="eleven_flash_v2_5",
        voice="voice-x",
        options={"enable_ssml_parsing": "yes"},
    )
    got = build_tts(cfg, KEYS)
    assert isinstance(got, elevenlabs.TTS)
    assert got.model == "eleven_flash_v2_5"
    assert got._opts.voice_id == "voice-x" and got._opts.api_key == "tts-key"
    assert got._opts.enable_ssml_parsing is True


def test_openai_tts() -> None:
    got = build_tts(TtsConfig(provider="openai", model="gpt-4o-mini-tts", voice="ash"), KEYS)
    assert isinstance(got, openai.TTS)
    assert got._opts.voice == "ash"


def test_openai_realtime() -> None:
    cfg = RealtimeConfig(provider="openai", model="gpt-realtime", voice="marin")
    got = build_realtime(cfg, KEYS)
    assert isinstance(got, openai.realtime.RealtimeModel)
    assert got.model == "gpt-realtime"
    pipeline = build_pipeline(None, cfg, KEYS)
    assert pipeline.stt is None and pipeline.tts is None


def test_offline_pipeline() -> None:
    cfg = offline_config()
    got = build_pipeline(cfg.pipeline, cfg.realtime, {})
    assert isinstance(got.stt, PocketsphinxSTT)
    assert isinstance(got.llm, ScriptedLLM)
    assert isinstance(got.tts, FliteTTS)


@pytest.mark.parametrize(
    ("build", "cfg"),
    [
        (build_stt, SttConfig(provider="deepgram")),
        (build_llm, LlmConfig(provider="openai")),
        (build_tts, TtsConfig(provider="cartesia")),
        (build_tts, TtsConfig(provider="elevenlabs")),
        (build_realtime, RealtimeConfig(provider="openai")),
    ],
)
def test_missing_key_is_a_config_error(build: Any, cfg: Any) -> None:
    with pytest.raises(ProviderConfigError, match="SWITCHBOARD_SECRET_"):
        build(cfg, {})


def test_options_are_checked_and_typed() -> None:
    with pytest.raises(ProviderConfigError, match="not accepted"):
        build_stt(SttConfig(provider="deepgram", options={"nope": "1"}), KEYS)
    with pytest.raises(ProviderConfigError, match="not accepted"):
        build_stt(SttConfig(provider="deepgram", options={"api_key": "x"}), KEYS)
    with pytest.raises(ProviderConfigError, match="expected bool"):
        build_stt(SttConfig(provider="deepgram", options={"punctuate": "maybe"}), KEYS)
    assert plugin_kwargs(deepgram.STT, {"sample_rate": "8000", "base_url": "x"}, set()) == {
        "sample_rate": 8000,
        "base_url": "x",
    }


def test_pocketsphinx_streaming_option() -> None:
    vad = silero.VAD.load()
    batch = build_stt(SttConfig(provider="pocketsphinx"), {}, vad)
    assert not batch.capabilities.streaming
    cfg = SttConfig(provider="pocketsphinx", options={"streaming": "true"})
    assert build_stt(cfg, {}, vad).capabilities.streaming
