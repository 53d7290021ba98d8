"""AgentConfig: the per-VoiceAgent configuration the operator renders and the agent reads."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

NonEmpty = Annotated[str, Field(min_length=1)]


class _Frozen(BaseModel):
    """Base: immutable, strict about unknown keys, camelCase on the wire."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ObjectRef(_Frozen):
    """The VoiceAgent this config was rendered from."""

    namespace: NonEmpty
    name: NonEmpty


class SttConfig(_Frozen):
    """Speech-to-text stage. `pocketsphinx` is the offline local provider."""

    provider: Literal["deepgram", "openai", "pocketsphinx"]
    model: str | None = None
    language: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class IntentAction(_Frozen):
    """A tool call the scripted LLM makes after its reply."""

    type: Literal["transfer", "hangup"]
    target: str | None = Field(default=None, description="transferTargets[].name (transfer)")

    @model_validator(mode="after")
    def _target_for_transfer(self) -> Self:
        if self.type == "transfer" and not self.target:
            raise ValueError("a transfer action needs a target")
        if self.type == "hangup" and self.target:
            raise ValueError("a hangup action takes no target")
        return self


class Intent(_Frozen):
    """One scripted intent: matched when the caller says any of its keywords."""

    name: NonEmpty
    keywords: list[NonEmpty] = Field(min_length=1)
    reply: NonEmpty
    action: IntentAction | None = None


class DialogueScript(_Frozen):
    """The scripted LLM's dialogue (demo/IVR/test only): first matching intent wins."""

    intents: list[Intent] = Field(default_factory=list)
    fallback: NonEmpty = "Sorry, I did not catch that. Could you say it again?"


class LlmConfig(_Frozen):
    """LLM stage. `scripted` follows `script` and needs no network (demo/test only)."""

    provider: Literal["openai", "scripted"]
    model: str | None = None
    base_url: str | None = Field(default=None, alias="baseURL")
    temperature: float | None = Field(default=None, ge=0, le=2)
    options: dict[str, str] = Field(default_factory=dict)
    script: DialogueScript | None = None

    @model_validator(mode="after")
    def _script_for_scripted(self) -> Self:
        if self.provider == "scripted" and self.script is None:
            raise ValueError("the scripted LLM needs a script")
        return self


class TtsConfig(_Frozen):
    """Text-to-speech stage. `flite` is the offline local provider."""

    provider: Literal["cartesia", "elevenlabs", "openai", "flite"]
    model: str | None = None
    voice: str | None = None
    language: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class PipelineConfig(_Frozen):
    """The cascaded STT -> LLM -> TTS pipeline."""

    stt: SttConfig
    llm: LlmConfig
    tts: TtsConfig


class RealtimeConfig(_Frozen):
    """A speech-to-speech model instead of the pipeline."""

    provider: Literal["openai"]
    model: str | None = None
    voice: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class TransferTarget(_Frozen):
    """A destination the agent may transfer the caller to (SIP REFER)."""

    name: NonEmpty
    uri: str = Field(pattern=r"^(sip:|tel:)\S+$")


class TelemetryConfig(_Frozen):
    """OTLP/HTTP trace export. No endpoint: no export."""

    otlp_endpoint: str | None = None
    sampling_ratio: float = Field(default=1.0, ge=0, le=1)
    redact_pii: bool = Field(default=True, alias="redactPII")


class AgentConfig(_Frozen):
    """Everything one VoiceAgent's workers need, except secrets (those arrive as env vars)."""

    agent_name: NonEmpty = Field(description="LiveKit agent name: explicit dispatch only")
    voice_agent: ObjectRef
    instructions: NonEmpty = Field(description="the resolved system prompt")
    greeting: str | None = Field(default=None, description="said when the caller joins")
    pipeline: PipelineConfig | None = None
    realtime: RealtimeConfig | None = None
    transfer_targets: list[TransferTarget] = Field(default_factory=list)
    max_call_duration: int = Field(default=1800, gt=0, description="seconds")
    calls_per_worker: int = Field(default=1, ge=1)
    drain_timeout: int = Field(default=1800, ge=0, description="seconds")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.pipeline is None) == (self.realtime is None):
            raise ValueError("exactly one of pipeline and realtime must be set")
        names = [t.name for t in self.transfer_targets]
        if len(set(names)) != len(names):
            raise ValueError("transferTargets names must be unique")
        script = self.pipeline.llm.script if self.pipeline else None
        for intent in script.intents if script else []:
            target = intent.action.target if intent.action else None
            if target is not None and target not in names:
                raise ValueError(f"intent {intent.name!r}: unknown transfer target {target!r}")
        return self

    def transfer_target(self, name: str) -> TransferTarget | None:
        """The transfer target called `name`, if configured."""
        return next((t for t in self.transfer_targets if t.name == name), None)
