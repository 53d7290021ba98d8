"""VoiceAgent: an AI voice agent, its dispatch rule and its worker fleet."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from switchboard.api.common import (
    CONDITIONS_FIELD_EXTRA,
    DNS_LABEL_PATTERN,
    E164,
    Condition,
    ConfigMapKeyRef,
    Duration,
    LiveKitRef,
    Model,
    ObjectName,
    SecretKeyRef,
    cel,
)

Text = Annotated[str, StringConstraints(max_length=65536)]
ShortText = Annotated[str, StringConstraints(max_length=253)]
Options = dict[str, ShortText]

# Providers that run offline inside the worker need no API key.
LOCAL_STT = ("pocketsphinx",)
LOCAL_TTS = ("flite",)


def _needs_key_rule(local: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(f"'{p}'" for p in local)
    return {
        "rule": f"self.provider in [{listed}] || has(self.apiKeySecretRef)",
        "message": "apiKeySecretRef is required for a cloud provider",
        "fieldPath": ".apiKeySecretRef",
    }


class SttStage(Model):
    """Speech-to-text."""

    model_config = cel(_needs_key_rule(LOCAL_STT))

    provider: Literal["deepgram", "openai", "pocketsphinx"] = Field(
        description="deepgram, openai (cloud) or pocketsphinx (offline, English)."
    )
    model: ShortText | None = Field(default=None, description="Provider model, e.g. nova-3.")
    language: ShortText | None = Field(default=None, description="BCP-47 language, e.g. en-US.")
    options: Options = Field(
        default_factory=dict, description="Extra provider-specific options (string values)."
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the provider API key."
    )


class ScriptAction(Model):
    """What the scripted LLM does after replying."""

    model_config = cel(
        {
            "rule": "self.type != 'transfer' || has(self.target)",
            "message": "a transfer action needs target",
            "fieldPath": ".target",
        }
    )

    type: Literal["transfer", "hangup"] = Field(description="transfer or hangup.")
    target: ShortText | None = Field(
        default=None, description="Name of a telephony.transferTargets entry (for transfer)."
    )


class ScriptIntent(Model):
    """One intent of the dialogue script, matched by keyword."""

    name: ShortText = Field(description="Intent name (appears in traces).")
    keywords: list[ShortText] = Field(
        min_length=1, max_length=64, description="Any keyword in the caller's words matches."
    )
    reply: Text = Field(description="What the agent says.")
    action: ScriptAction | None = Field(default=None, description="Tool call after the reply.")


class DialogueScript(Model):
    """A deterministic dialogue for the scripted LLM (demos, IVR-style flows and tests)."""

    intents: list[ScriptIntent] = Field(
        default_factory=list, max_length=256, description="Intents, tried in order."
    )
    fallback: Text = Field(
        default="Sorry, I did not catch that.", description="Reply when no intent matches."
    )


class LlmStage(Model):
    """The language model."""

    model_config = cel(
        {
            "rule": "self.provider != 'scripted' || has(self.script)",
            "message": "the scripted provider needs script",
            "fieldPath": ".script",
        }
    )

    provider: Literal["openai", "scripted"] = Field(
        description="openai (or any OpenAI-compatible server via baseURL) or scripted (offline)."
    )
    model: ShortText | None = Field(default=None, description="Model name, e.g. gpt-4.1-mini.")
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None = (
        Field(
            default=None,
            alias="baseURL",
            description="OpenAI-compatible endpoint (vLLM, Ollama), e.g. http://ollama:11434/v1.",
        )
    )
    options: Options = Field(
        default_factory=dict, description="Extra provider-specific options (string values)."
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the provider API key."
    )
    script: DialogueScript | None = Field(
        default=None, description="Dialogue script for the scripted provider."
    )


class TtsStage(Model):
    """Text-to-speech."""

    model_config = cel(_needs_key_rule(LOCAL_TTS))

    provider: Literal["cartesia", "elevenlabs", "openai", "flite"] = Field(
        description="cartesia, elevenlabs, openai (cloud) or flite (offline)."
    )
    model: ShortText | None = Field(default=None, description="Provider model, e.g. sonic-2.")
    voice: ShortText | None = Field(default=None, description="Voice ID or name, e.g. slt.")
    language: ShortText | None = Field(default=None, description="BCP-47 language, e.g. en.")
    options: Options = Field(
        default_factory=dict, description="Extra provider-specific options (string values)."
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the provider API key."
    )


class InstructionsSource(Model):
    """Where to read the system prompt from."""

    config_map_key_ref: ConfigMapKeyRef = Field(description="A key in a ConfigMap.")


class Pipeline(Model):
    """A cascaded STT -> LLM -> TTS pipeline."""

    stt: SttStage = Field(description="Speech-to-text stage.")
    llm: LlmStage = Field(description="Language model stage.")
    tts: TtsStage = Field(description="Text-to-speech stage.")


class Realtime(Model):
    """A speech-to-speech model instead of a pipeline."""

    provider: Literal["openai"] = Field(description="openai (Realtime API).")
    model: ShortText | None = Field(default=None, description="Model, e.g. gpt-realtime.")
    voice: ShortText | None = Field(default=None, description="Voice, e.g. marin.")
    options: Options = Field(
        default_factory=dict, description="Extra provider-specific options (string values)."
    )
    api_key_secret_ref: SecretKeyRef = Field(description="Secret key holding the API key.")


class Dispatch(Model):
    """How calls become LiveKit rooms."""

    model_config = cel(
        {
            "rule": "self.type != 'direct' || has(self.roomName)",
            "message": "direct dispatch needs roomName",
            "fieldPath": ".roomName",
        }
    )

    type: Literal["individual", "direct", "callee"] = Field(
        default="individual",
        description="individual: a room per call; direct: one fixed room; callee: a room "
        "per called number.",
    )
    room_prefix: ShortText = Field(
        default="call-", description="Room name prefix (individual and callee)."
    )
    room_name: ShortText | None = Field(default=None, description="Room name (direct only).")
    pin_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding a PIN callers must enter."
    )


class TransferTarget(Model):
    """A destination the agent may transfer a call to."""

    name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)] = Field(
        description="Name the agent uses to pick this target."
    )
    uri: Annotated[str, StringConstraints(pattern=r"^(sip|tel):", max_length=512)] = Field(
        description="sip: or tel: URI sent in the SIP REFER."
    )


class Telephony(Model):
    """Phone routing."""

    trunks: list[ObjectName] = Field(
        min_length=1,
        max_length=32,
        description="SipTrunk names in the same namespace whose calls reach this agent.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    numbers: list[E164] = Field(
        default_factory=list,
        max_length=100,
        description="Called numbers (E.164, a subset of the trunks' numbers); empty means all.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    dispatch: Dispatch = Field(
        default_factory=Dispatch,
        description="Room assignment for calls.",
        json_schema_extra={"default": Dispatch().to_wire()},
    )
    transfer_targets: list[TransferTarget] = Field(
        default_factory=list,
        max_length=32,
        description="Where the transfer tool may send a call.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    max_call_duration: Duration = Field(
        default="1h", description="Longest call the agent keeps; also bounds pod drain time."
    )


class Scaling(Model):
    """Worker fleet sizing."""

    model_config = cel(
        {
            "rule": "self.minWorkers <= self.maxWorkers",
            "message": "minWorkers must be less than or equal to maxWorkers",
            "fieldPath": ".minWorkers",
        }
    )

    calls_per_worker: int = Field(
        default=1, ge=1, le=100, description="Concurrent calls per worker pod; 1 = a pod per call."
    )
    warm_workers: int = Field(
        default=1, ge=0, le=1000, description="Idle workers kept ready beyond active calls."
    )
    min_workers: int = Field(default=0, ge=0, le=1000, description="Fewest workers.")
    max_workers: int = Field(default=10, ge=1, le=1000, description="Most workers.")
    scale_down_delay: Duration = Field(
        default="30s", description="How long a worker stays idle before it may be removed."
    )


class ResourceRequirements(Model):
    """Compute resources of a worker container (as in a Pod spec)."""

    requests: dict[str, int | str] = Field(
        default_factory=dict, description="Minimum resources, e.g. cpu: 500m."
    )
    limits: dict[str, int | str] = Field(
        default_factory=dict, description="Maximum resources, e.g. memory: 1Gi."
    )


class Telemetry(Model):
    """OpenTelemetry export."""

    otlp_endpoint: (
        Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None
    ) = Field(default=None, description="OTLP/HTTP endpoint; unset disables export.")
    sampling_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Fraction of calls traced (0..1)."
    )
    redact_pii: bool = Field(
        default=True,
        alias="redactPII",
        description="Hash phone numbers in traces; false records them raw.",
    )


class VoiceAgentSpec(Model):
    """Desired state of a VoiceAgent."""

    model_config = cel(
        {
            "rule": "has(self.pipeline) != has(self.realtime)",
            "message": "exactly one of spec.pipeline or spec.realtime is required",
        },
        {
            "rule": "!(has(self.instructions) && has(self.instructionsFrom))",
            "message": "set at most one of spec.instructions or spec.instructionsFrom",
        },
    )

    agent_name: (
        Annotated[
            str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", max_length=128)
        ]
        | None
    ) = Field(
        default=None,
        description="Name workers register under (explicit dispatch); default <namespace>-<name>.",
    )
    image: ShortText | None = Field(
        default=None, description="Worker image; defaults to the operator's agent image."
    )
    livekit: LiveKitRef | None = Field(
        default=None, description="LiveKit deployment; defaults to the operator's."
    )
    instructions: Text | None = Field(default=None, description="System prompt for the LLM.")
    instructions_from: InstructionsSource | None = Field(
        default=None, description="Read the system prompt from a ConfigMap key instead."
    )
    greeting: Text | None = Field(default=None, description="What the agent says on answer.")
    pipeline: Pipeline | None = Field(default=None, description="STT -> LLM -> TTS pipeline.")
    realtime: Realtime | None = Field(default=None, description="Speech-to-speech model.")
    telephony: Telephony | None = Field(default=None, description="Phone routing.")
    scaling: Scaling = Field(
        default_factory=Scaling,
        description="Worker fleet sizing.",
        json_schema_extra={"default": Scaling().to_wire()},
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Worker container resources."
    )
    pod_template: dict[str, Any] | None = Field(
        default=None,
        description="Escape hatch: a partial PodTemplateSpec merged into the worker pods.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    telemetry: Telemetry = Field(
        default_factory=Telemetry,
        description="Tracing of calls.",
        json_schema_extra={"default": Telemetry().to_wire()},
    )


class Workers(Model):
    """Worker counts."""

    desired: int = Field(default=0, description="Workers the scaler wants.")
    ready: int = Field(default=0, description="Workers registered and ready.")
    idle: int = Field(default=0, description="Ready workers with spare capacity.")
    busy: int = Field(default=0, description="Workers at capacity.")


class VoiceAgentStatus(Model):
    """Observed state of a VoiceAgent."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, LiveKitSynced and WorkersReady conditions.",
        json_schema_extra=CONDITIONS_FIELD_EXTRA,
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation last reconciled."
    )
    agent_name: str | None = Field(default=None, description="Effective agent name.")
    dispatch_rule_id: str | None = Field(
        default=None, alias="dispatchRuleID", description="LiveKit dispatch rule ID (SDR_...)."
    )
    active_calls: int = Field(default=0, description="Calls in progress.")
    workers: Workers | None = Field(default=None, description="Worker fleet counts.")


class VoiceAgent(Model):
    """An AI voice agent answering phone calls through LiveKit."""

    spec: VoiceAgentSpec = Field(description="Desired state.")
    status: VoiceAgentStatus | None = Field(default=None, description="Observed state.")
