"""Build the STT/LLM/TTS (or realtime) providers a VoiceAgent's config asks for.

API keys come only from the per-stage env vars (Secrets); `options` become extra keyword
arguments of the plugin's constructor, typed after the constructor's defaults.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from livekit.agents import llm, stt, tts
from livekit.agents.vad import VAD
from livekit.plugins import cartesia, deepgram, elevenlabs, openai
from switchboard_contract import (
    LlmConfig,
    PipelineConfig,
    RealtimeConfig,
    Stage,
    SttConfig,
    TtsConfig,
    secret_env,
)

from switchboard_agent.local import FliteTTS, PocketsphinxSTT, ScriptedLLM

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


AnyLLM = llm.LLM[Any]
AnySTT = stt.STT[Any]
AnyTTS = tts.TTS[Any]


class ProviderConfigError(ValueError):
    """The config asks for something the provider cannot do (bad option, missing key)."""


@dataclass(frozen=True)
class Pipeline:
    """The built providers of one session (STT/LLM/TTS, or a realtime model as `llm`)."""

    llm: AnyLLM | llm.RealtimeModel
    stt: AnySTT | None = None
    tts: AnyTTS | None = None


def _kind(param: inspect.Parameter) -> object:
    """A sample value of the parameter's scalar type (default, else from the annotation)."""
    if isinstance(param.default, bool | int | float | str):
        return param.default
    names = set(re.findall(r"\b(bool|int|float|str)\b", str(param.annotation)))
    for name, sample in (("str", ""), ("bool", False), ("float", 0.0), ("int", 0)):
        if name in names:
            return sample
    return ""


def _parse(value: str, like: object, key: str) -> object:
    try:
        if isinstance(like, bool):
            low = value.strip().lower()
            if low not in _TRUE | _FALSE:
                raise ValueError(value)
            return low in _TRUE
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except ValueError as e:
        raise ProviderConfigError(f"option {key}={value!r}: expected {type(like).__name__}") from e
    return value


def plugin_kwargs(
    factory: Callable[..., object], options: Mapping[str, str], reserved: set[str]
) -> dict[str, Any]:
    """`options` as keyword arguments of `factory`, typed after its parameters' defaults."""
    params = inspect.signature(factory).parameters
    out: dict[str, Any] = {}
    for key, value in options.items():
        param = params.get(key)
        if param is None or key in reserved or key.startswith("_"):
            raise ProviderConfigError(f"option {key!r} is not accepted by {factory.__qualname__}")
        out[key] = _parse(value, _kind(param), key)
    return out


def _api_key(stage: Stage, env: Mapping[str, str]) -> str:
    key = env.get(secret_env(stage))
    if not key:
        raise ProviderConfigError(f"{secret_env(stage)} is not set (apiKeySecretRef)")
    return key


def _given(**kwargs: object) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


_RESERVED = {"api_key", "base_url", "http_session", "client"}


def build_stt(cfg: SttConfig, env: Mapping[str, str], vad: VAD | None = None) -> AnySTT:
    if cfg.provider == "pocketsphinx":
        # options.streaming=true decodes while the caller speaks (faster, less accurate:
        # live cepstral normalisation); the default decodes each VAD segment as a whole
        options = dict(cfg.options)
        streaming = _parse(options.pop("streaming", "false"), False, "streaming")
        return PocketsphinxSTT(
            language=cfg.language or "en-US", options=options, vad=vad if streaming else None
        )
    if cfg.provider == "deepgram":
        extra = plugin_kwargs(deepgram.STT, cfg.options, _RESERVED | {"model", "language"})
        base = _given(model=cfg.model, language=cfg.language)
        return deepgram.STT(api_key=_api_key(Stage.STT, env), **base, **extra)

    extra = plugin_kwargs(openai.STT, cfg.options, _RESERVED | {"model", "language"})
    base = _given(model=cfg.model, language=cfg.language)
    return openai.STT(api_key=_api_key(Stage.STT, env), **base, **extra)


def build_llm(cfg: LlmConfig, env: Mapping[str, str]) -> AnyLLM:
    if cfg.provider == "scripted":
        assert cfg.script is not None  # enforced by the contract
        return ScriptedLLM(cfg.script)

    extra = plugin_kwargs(openai.LLM, cfg.options, _RESERVED | {"model", "temperature"})
    # a self-hosted OpenAI-compatible server (vLLM, Ollama) may need no key
    key = env.get(secret_env(Stage.LLM)) or ""
    if not key:
        key = _api_key(Stage.LLM, env) if cfg.base_url is None else "not-needed"
    base = _given(model=cfg.model, base_url=cfg.base_url, temperature=cfg.temperature)
    return openai.LLM(api_key=key, **base, **extra)


def build_tts(cfg: TtsConfig, env: Mapping[str, str]) -> AnyTTS:
    reserved = _RESERVED | {"model", "voice", "voice_id", "language"}
    if cfg.provider == "flite":
        return FliteTTS(voice=cfg.voice or "slt", options=cfg.options)
    if cfg.provider == "cartesia":
        extra = plugin_kwargs(cartesia.TTS, cfg.options, reserved)
        base = _given(model=cfg.model, voice=cfg.voice, language=cfg.language)
        return cartesia.TTS(api_key=_api_key(Stage.TTS, env), **base, **extra)
    if cfg.provider == "elevenlabs":
        extra = plugin_kwargs(elevenlabs.TTS, cfg.options, reserved)
        base = _given(model=cfg.model, voice_id=cfg.voice, language=cfg.language)
        return elevenlabs.TTS(api_key=_api_key(Stage.TTS, env), **base, **extra)

    extra = plugin_kwargs(openai.TTS, cfg.options, reserved)
    base = _given(model=cfg.model, voice=cfg.voice)
    return openai.TTS(api_key=_api_key(Stage.TTS, env), **base, **extra)


def build_realtime(cfg: RealtimeConfig, env: Mapping[str, str]) -> llm.RealtimeModel:

    extra = plugin_kwargs(openai.realtime.RealtimeModel, cfg.options, _RESERVED | {"model"})
    base = _given(model=cfg.model, voice=cfg.voice)
    return openai.realtime.RealtimeModel(api_key=_api_key(Stage.REALTIME, env), **base, **extra)


def build_pipeline(
    pipeline: PipelineConfig | None,
    realtime: RealtimeConfig | None,
    env: Mapping[str, str] | None = None,
    vad: VAD | None = None,
) -> Pipeline:
    """All providers of a session, from the config (exactly one of pipeline/realtime)."""
    env = os.environ if env is None else env
    if pipeline is not None:
        return Pipeline(
            stt=build_stt(pipeline.stt, env, vad),
            llm=build_llm(pipeline.llm, env),
            tts=build_tts(pipeline.tts, env),
        )
    if realtime is None:
        raise ProviderConfigError("neither pipeline nor realtime is configured")
    return Pipeline(llm=build_realtime(realtime, env))
