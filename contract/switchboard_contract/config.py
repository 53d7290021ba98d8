"""AgentConfig: the per-VoiceAgent configuration the operator renders and the agent reads.

The stage, script, transfer-target and telemetry models here are also the VoiceAgent API's
(`switchboard.api.voiceagent` derives from them), so each field, its limits, default and
description exist once. `admission(...)` carries a model's cross-field rule into the CRD as
CEL, next to the pydantic validator that enforces the same rule for the worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from switchboard_contract.base import Frozen
from switchboard_contract.pricing import Pricing
from switchboard_contract.pricing_defaults import DEFAULT_PRICING

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
# Limits a CRD needs on every string (the API server's CEL cost estimates depend on them).
ShortText = Annotated[str, StringConstraints(max_length=253)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Text = Annotated[str, StringConstraints(max_length=65536)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=65536)]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)]
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Options = dict[str, ShortText]
OPTIONS_DESCRIPTION = "Extra provider-specific options (string values)."


def rule(expression: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One CEL validation rule; `field_path` names the field the error points at."""
    out = {"rule": expression, "message": message}
    return out if field_path is None else {**out, "fieldPath": field_path}


def admission(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL `x-kubernetes-validations` into the generated CRD.

    pydantic merges it with the parent's config, so camelCase and frozen still apply; a
    subclass that adds rules must repeat its parent's (json_schema_extra is not merged).
    """
    if not rules:
        return ConfigDict()
    validations: list[JsonValue] = [dict(r) for r in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def rules_of(model: type[BaseModel]) -> tuple[dict[str, str], ...]:
    """The CEL rules `admission` attached to `model`, for a subclass that adds its own."""
    extra = model.model_config.get("json_schema_extra")
    found = extra.get("x-kubernetes-validations", []) if isinstance(extra, dict) else []
    return tuple(dict(r) for r in found if isinstance(r, dict))  # type: ignore[misc]


class ObjectRef(Frozen):
    """The VoiceAgent this config was rendered from."""

    namespace: NonEmpty
    name: NonEmpty


class SttConfig(Frozen):
    """Speech-to-text."""

    provider: Literal["deepgram", "openai", "pocketsphinx"] = Field(
        description="deepgram, openai (cloud) or pocketsphinx (offline, English)."
    )
    model: ShortText | None = Field(default=None, description="Provider model, e.g. nova-3.")
    language: ShortText | None = Field(default=None, description="BCP-47 language, e.g. en-US.")
    options: Options = Field(default_factory=dict, description=OPTIONS_DESCRIPTION)


_TRANSFER_NEEDS_TARGET = "a transfer action needs target"
_HANGUP_NO_TARGET = "a hangup action takes no target"


class IntentAction(Frozen):
    """What the scripted LLM does after replying."""

    model_config = admission(
        rule("self.type != 'transfer' || has(self.target)", _TRANSFER_NEEDS_TARGET, ".target"),
        rule("self.type != 'hangup' || !has(self.target)", _HANGUP_NO_TARGET, ".target"),
    )

    type: Literal["transfer", "hangup"] = Field(description="transfer or hangup.")
    target: ShortText | None = Field(
        default=None, description="Name of a telephony.transferTargets entry (for transfer)."
    )

    @model_validator(mode="after")
    def _target_for_transfer(self) -> Self:
        if self.type == "transfer" and not self.target:
            raise ValueError(_TRANSFER_NEEDS_TARGET)
        if self.type == "hangup" and self.target:
            raise ValueError(_HANGUP_NO_TARGET)
        return self


class Intent(Frozen):
    """One intent of the dialogue script, matched by keyword."""

    name: Name = Field(description="Intent name (appears in traces).")
    keywords: list[Name] = Field(
        min_length=1, max_length=64, description="Any keyword in the caller's words matches."
    )
    reply: NonEmptyText = Field(description="What the agent says.")
    action: IntentAction | None = Field(default=None, description="Tool call after the reply.")


class DialogueScript(Frozen):
    """A deterministic dialogue for the scripted LLM (demos, IVR-style flows and tests)."""

    intents: list[Intent] = Field(
        default_factory=list, max_length=256, description="Intents, tried in order."
    )
    fallback: NonEmptyText = Field(
        default="Sorry, I did not catch that.", description="Reply when no intent matches."
    )


_SCRIPTED_NEEDS_SCRIPT = "the scripted provider needs script"


def check_transfer_targets(script: DialogueScript | None, names: Iterable[str]) -> None:
    """Refuse a script whose transfer action names none of the configured targets."""
    known = set(names)
    for intent in script.intents if script else []:
        target = intent.action.target if intent.action else None
        if target is not None and target not in known:
            raise ValueError(f"intent {intent.name!r}: unknown transfer target {target!r}")


class LlmConfig(Frozen):
    """The language model."""

    model_config = admission(
        rule("self.provider != 'scripted' || has(self.script)", _SCRIPTED_NEEDS_SCRIPT, ".script")
    )

    provider: Literal["openai", "scripted"] = Field(
        description="openai (or any OpenAI-compatible server via baseURL) or scripted (offline)."
    )
    model: ShortText | None = Field(default=None, description="Model name, e.g. gpt-4.1-mini.")
    base_url: HttpUrl | None = Field(
        default=None,
        alias="baseURL",
        description="OpenAI-compatible endpoint (vLLM, Ollama), e.g. http://ollama:11434/v1.",
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Sampling temperature (0..2); unset: the model's."
    )
    options: Options = Field(default_factory=dict, description=OPTIONS_DESCRIPTION)
    script: DialogueScript | None = Field(
        default=None, description="Dialogue script for the scripted provider."
    )

    @model_validator(mode="after")
    def _script_for_scripted(self) -> Self:
        if self.provider == "scripted" and self.script is None:
            raise ValueError(_SCRIPTED_NEEDS_SCRIPT)
        return self


class TtsConfig(Frozen):
    """Text-to-speech."""

    provider: Literal["cartesia", "elevenlabs", "openai", "flite"] = Field(
        description="cartesia, elevenlabs, openai (cloud) or flite (offline)."
    )
    model: ShortText | None = Field(default=None, description="Provider model, e.g. sonic-2.")
    voice: ShortText | None = Field(default=None, description="Voice ID or name, e.g. slt.")
    language: ShortText | None = Field(default=None, description="BCP-47 language, e.g. en.")
    options: Options = Field(default_factory=dict, description=OPTIONS_DESCRIPTION)


class PipelineConfig(Frozen):
    """The cascaded STT -> LLM -> TTS pipeline."""

    stt: SttConfig
    llm: LlmConfig
    tts: TtsConfig


class RealtimeConfig(Frozen):
    """A speech-to-speech model instead of a pipeline."""

    provider: Literal["openai"] = Field(description="openai (Realtime API).")
    model: ShortText | None = Field(default=None, description="Model, e.g. gpt-realtime.")
    voice: ShortText | None = Field(default=None, description="Voice, e.g. marin.")
    options: Options = Field(default_factory=dict, description=OPTIONS_DESCRIPTION)


class TransferTarget(Frozen):
    """A destination the agent may transfer a call to."""

    name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)] = Field(
        description="Name the agent uses to pick this target."
    )
    uri: Annotated[str, StringConstraints(pattern=r"^(sip|tel):\S+$", max_length=512)] = Field(
        description="sip: or tel: URI sent in the SIP REFER."
    )


class TelemetryConfig(Frozen):
    """OpenTelemetry export of call traces."""

    otlp_endpoint: HttpUrl | None = Field(
        default=None, description="OTLP/HTTP endpoint; unset disables export."
    )
    sampling_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Fraction of calls traced (0..1)."
    )
    redact_pii: bool = Field(
        default=True,
        alias="redactPII",
        description="Hash phone numbers in traces; false records them raw.",
    )


class AgentConfig(Frozen):
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
    pricing: Pricing | None = Field(
        default=None,
        description="prices on top of the shipped table (the operator's, then spec.pricing)",
    )

    def price_table(self) -> Pricing:
        """The table a call's cost is computed with: the shipped defaults, overridden."""
        return DEFAULT_PRICING.merged(self.pricing)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.pipeline is None) == (self.realtime is None):
            raise ValueError("exactly one of pipeline and realtime must be set")
        names = [t.name for t in self.transfer_targets]
        if len(set(names)) != len(names):
            raise ValueError("transferTargets names must be unique")
        check_transfer_targets(self.pipeline.llm.script if self.pipeline else None, names)
        return self

    def transfer_target(self, name: str) -> TransferTarget | None:
        """The transfer target called `name`, if configured."""
        return next((t for t in self.transfer_targets if t.name == name), None)
