"""VoiceAgent: an AI voice agent, its dispatch rule and its worker fleet."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator
from switchboard_contract.config import (
    LlmConfig,
    RealtimeConfig,
    ShortText,
    SttConfig,
    TelemetryConfig,
    Text,
    TransferTarget,
    TtsConfig,
    check_transfer_targets,
    rule,
    rules_of,
)
from switchboard_contract.pricing import Pricing

from switchboard.api.analytics import CallAggregates
from switchboard.api.common import (
    CONDITIONS_FIELD_EXTRA,
    E164,
    CallDuration,
    Condition,
    ConfigMapKeyRef,
    Duration,
    LiveKitRef,
    Model,
    ObjectName,
    SecretKeyRef,
    cel,
)
from switchboard.api.mediastreams import MediaStreams, MediaStreamsStatus
from switchboard.api.podtemplate import PodTemplate, ResourceRequirements
from switchboard.api.web import WebSessions

# Providers that run offline inside the worker need no API key.
LOCAL_STT = ("pocketsphinx",)
LOCAL_TTS = ("flite",)
_KEY_DESCRIPTION = "Secret key holding the provider API key."


def _needs_key_rule(local: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(f"'{p}'" for p in local)
    return rule(
        f"self.provider in [{listed}] || has(self.apiKeySecretRef)",
        "apiKeySecretRef is required for a cloud provider",
        ".apiKeySecretRef",
    )


# The stages are the worker's contract models plus where their API key lives: a field the
# worker reads is declared once, in switchboard_contract.config.
class SttStage(SttConfig):
    """Speech-to-text."""

    model_config = cel(_needs_key_rule(LOCAL_STT))

    api_key_secret_ref: SecretKeyRef | None = Field(default=None, description=_KEY_DESCRIPTION)


class LlmStage(LlmConfig):
    """The language model."""

    model_config = cel(*rules_of(LlmConfig))

    api_key_secret_ref: SecretKeyRef | None = Field(default=None, description=_KEY_DESCRIPTION)


class TtsStage(TtsConfig):
    """Text-to-speech."""

    model_config = cel(_needs_key_rule(LOCAL_TTS))

    api_key_secret_ref: SecretKeyRef | None = Field(default=None, description=_KEY_DESCRIPTION)


class InstructionsSource(Model):
    """Where to read the system prompt from."""

    config_map_key_ref: ConfigMapKeyRef = Field(description="A key in a ConfigMap.")


class Pipeline(Model):
    """A cascaded STT -> LLM -> TTS pipeline."""

    stt: SttStage = Field(description="Speech-to-text stage.")
    llm: LlmStage = Field(description="Language model stage.")
    tts: TtsStage = Field(description="Text-to-speech stage.")


class Realtime(RealtimeConfig):
    """A speech-to-speech model instead of a pipeline."""

    model_config = cel()

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
    max_call_duration: CallDuration = Field(
        default="1h", description="Longest call the agent keeps; also bounds pod drain time."
    )


class WarmPool(Model):
    """How many idle workers wait for the next call: a fixed number or sized from demand."""

    model_config = cel(
        {
            "rule": "self.min <= self.max",
            "message": "warm.min must be less than or equal to warm.max",
            "fieldPath": ".min",
        }
    )

    mode: Literal["fixed", "predictive"] = Field(
        default="fixed",
        description=(
            "fixed: keep warmWorkers idle. predictive: keep enough idle workers for the calls"
            " expected within one pod start, from the measured arrival rate and pod start."
        ),
    )
    coverage: float = Field(
        default=0.999,
        ge=0.5,
        le=0.9999,
        description="predictive: the share of calls that should find an idle worker.",
    )
    minimum: int = Field(
        default=1, ge=0, le=1000, alias="min", description="predictive: fewest idle workers."
    )
    maximum: int = Field(
        default=50, ge=0, le=1000, alias="max", description="predictive: most idle workers."
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
        default=1,
        ge=0,
        le=1000,
        description="Idle workers kept ready beyond active calls (warm.mode fixed).",
    )
    warm: WarmPool | None = Field(
        default=None, description="Warm pool mode; absent means fixed at warmWorkers."
    )
    min_workers: int = Field(default=0, ge=0, le=1000, description="Fewest workers.")
    max_workers: int = Field(default=10, ge=1, le=1000, description="Most workers.")
    scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "How long a worker stays idle before it may be removed (predictive warm pool: at"
            " least one measured pod start)."
        ),
    )


# The worker refuses a script whose transfer names an unknown target (AgentConfig): say so
# at admission already. Every has() guards an optional field, as CEL needs.
_INTENT_TARGETS_KNOWN = (
    "!has(self.pipeline) || !has(self.pipeline.llm.script)"
    " || !has(self.pipeline.llm.script.intents)"
    " || self.pipeline.llm.script.intents.all(i, !has(i.action) || !has(i.action.target)"
    " || (has(self.telephony) && has(self.telephony.transferTargets)"
    " && self.telephony.transferTargets.exists(t, t.name == i.action.target)))"
)
_INTENT_TARGETS_MESSAGE = "an intent's transfer target must name a telephony.transferTargets entry"


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
        rule(_INTENT_TARGETS_KNOWN, _INTENT_TARGETS_MESSAGE, ".pipeline.llm.script"),
    )

    agent_name: (
        Annotated[
            str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", max_length=128)
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "Name workers register under (explicit dispatch), unique per LiveKit;"
            " default <namespace>/<name>."
        ),
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
    media_streams: MediaStreams | None = Field(
        default=None,
        description="Carrier WebSocket media streams (Twilio, Plivo, Telnyx) via the gateway.",
    )
    web: WebSessions | None = Field(
        default=None, description="Browser click-to-call sessions via the gateway."
    )
    scaling: Scaling = Field(
        default_factory=Scaling,
        description="Worker fleet sizing.",
        json_schema_extra={"default": Scaling().to_wire()},
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Worker container resources."
    )
    pod_template: PodTemplate | None = Field(
        default=None,
        description="Scheduling, resources, extra env, volumes, labels and annotations of the "
        "worker pods, as a partial PodTemplateSpec; any other field is refused (InvalidSpec).",
    )
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig,
        description="Tracing of calls.",
        json_schema_extra={"default": TelemetryConfig().model_dump(mode="json", exclude_none=True)},
    )
    pricing: Pricing | None = Field(
        default=None,
        description="USD prices for this VoiceAgent's call costs, entry by entry on top of "
        "the operator's table (stt per audio minute, llm per 1M tokens, tts per 1M "
        "characters, telephony per call minute by channel).",
    )

    @model_validator(mode="after")
    def _intent_targets_known(self) -> Self:
        targets = self.telephony.transfer_targets if self.telephony else []
        check_transfer_targets(
            self.pipeline.llm.script if self.pipeline else None, (t.name for t in targets)
        )
        return self


class Workers(Model):
    """Worker counts."""

    desired: int = Field(default=0, description="Workers the scaler wants.")
    ready: int = Field(default=0, description="Workers registered and ready.")
    idle: int = Field(default=0, description="Ready workers with spare capacity.")
    busy: int = Field(default=0, description="Workers at capacity.")


class WarmStatus(Model):
    """The warm pool as the scaler last sized it."""

    mode: str = Field(description="fixed or predictive.")
    target: int = Field(default=0, description="Idle workers the scaler keeps.")
    arrivals_per_minute: str | None = Field(
        default=None, description="predictive: the estimated call arrival rate (2 digits)."
    )
    pod_start: str | None = Field(
        default=None, description="predictive: the pod start it covers (p90, creation->Ready)."
    )


class VoiceAgentStatus(Model):
    """Observed state of a VoiceAgent."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, LiveKitSynced, WorkersReady and MediaStreamsReady conditions.",
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
    warm: WarmStatus | None = Field(default=None, description="What the warm pool is sized from.")
    media_streams: MediaStreamsStatus | None = Field(
        default=None, description="Webhook URLs for spec.mediaStreams."
    )
    calls: CallAggregates | None = Field(
        default=None, description="Calls that ended in the last hour and day (call summaries)."
    )


class VoiceAgent(Model):
    """An AI voice agent answering phone calls through LiveKit."""

    spec: VoiceAgentSpec = Field(description="Desired state.")
    status: VoiceAgentStatus | None = Field(default=None, description="Observed state.")
