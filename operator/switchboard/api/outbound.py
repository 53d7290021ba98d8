"""OutboundCall: one phone call an agent places through an outbound SipTrunk."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from switchboard_contract.outbound import Result

from switchboard.api.common import (
    CONDITIONS_FIELD_EXTRA,
    E164,
    CallDuration,
    Condition,
    DurationBounds,
    GoDuration,
    LocalObjectRef,
    Model,
    ObjectName,
)

Phase = Literal["Pending", "Dialing", "Ringing", "InProgress", "Completed", "Failed"]
# Dialing: the intent is recorded (room chosen, dispatch created); the worker has not dialled.
# Ringing: a worker claimed the call and sent the INVITE. From here it is never dialled again.
IN_FLIGHT: frozenset[str] = frozenset({"Dialing", "Ringing", "InProgress"})
DIALLED: frozenset[str] = frozenset({"Ringing", "InProgress", "Completed", "Failed"})
TERMINAL: frozenset[str] = frozenset({"Completed", "Failed"})
ContextKey = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
ContextValue = Annotated[str, StringConstraints(max_length=1024)]
MAX_CONTEXT = 64


class VoiceAgentRef(Model):
    """The VoiceAgent that places and talks on the call."""

    name: ObjectName = Field(description="Name of the VoiceAgent.")
    namespace: ObjectName | None = Field(
        default=None,
        description="Must be this object's namespace when set: an agent in another "
        "namespace is refused (tenancy).",
    )


class OutboundCallSpec(Model):
    """Desired call. Immutable: a call is dialled at most once, as written."""

    voice_agent_ref: VoiceAgentRef = Field(description="The agent that talks on the call.")
    to: E164 = Field(description="The number (E.164) to call, e.g. +15105550100.")
    trunk_ref: LocalObjectRef = Field(description="SipTrunk with spec.outbound to dial through.")
    from_: E164 | None = Field(
        default=None,
        alias="from",
        description="Caller ID (E.164): one of the trunk's outbound numbers; default its first.",
    )
    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict,
        max_length=MAX_CONTEXT,
        description="Key/values the agent sees as call metadata (e.g. appointment time).",
    )
    ringing_timeout: Annotated[GoDuration, DurationBounds("1s", "10m")] = Field(
        default="30s", description="How long the callee's phone may ring before no-answer."
    )
    max_call_duration: CallDuration = Field(
        default="10m", description="Hard limit on the answered call's length."
    )


class OutboundCallStatus(Model):
    """Observed state of one call; only the operator writes it."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready (True once Completed; False naming why it failed or waits).",
        json_schema_extra=CONDITIONS_FIELD_EXTRA,
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation last reconciled."
    )
    phase: Phase | None = Field(
        default=None, description="Pending, Dialing, Ringing, InProgress, Completed or Failed."
    )
    result: Result | None = Field(
        default=None, description="answered, busy, no-answer, rejected or failed."
    )
    sip_status: int | None = Field(default=None, description="Final SIP status code, e.g. 486.")
    to_masked: str | None = Field(
        default=None, description="The called number, masked (+1555•••0100)."
    )
    agent: str | None = Field(default=None, description="The VoiceAgent's name.")
    room: str | None = Field(default=None, description="The LiveKit room of the call.")
    sip_call_id: str | None = Field(
        default=None, alias="sipCallID", description="livekit-sip's call ID (SCL_...)."
    )
    job_id: str | None = Field(
        default=None, alias="jobID", description="The LiveKit job that claimed the call."
    )
    start_time: str | None = Field(
        default=None, description="Intent recorded, dispatch created (RFC 3339)."
    )
    dial_time: str | None = Field(default=None, description="The worker dialled (RFC 3339).")
    answer_time: str | None = Field(default=None, description="The callee answered (RFC 3339).")
    end_time: str | None = Field(default=None, description="The call ended (RFC 3339).")
    duration_seconds: int | None = Field(
        default=None, description="Answer to end, in whole seconds."
    )
    duration: str | None = Field(default=None, description="Answer to end, e.g. 1m5s.")


class OutboundCall(Model):
    """One outbound phone call placed by a VoiceAgent."""

    spec: OutboundCallSpec = Field(
        description="Desired state.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "spec is immutable: create a new call"}
            ]
        },
    )
    status: OutboundCallStatus | None = Field(default=None, description="Observed state.")
