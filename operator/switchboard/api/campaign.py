"""CallCampaign: many OutboundCalls, paced, capped, in calling windows, with retries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from switchboard.api.common import (
    CONDITIONS_FIELD_EXTRA,
    E164,
    CallDuration,
    Condition,
    DataKey,
    Duration,
    DurationBounds,
    GoDuration,
    LocalObjectRef,
    Model,
)
from switchboard.api.outbound import ContextKey, ContextValue, VoiceAgentRef

MAX_INLINE = 1000  # more targets belong in a ConfigMap (etcd objects stop at ~1.5 MiB)
Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
RetryResult = Literal["busy", "no-answer", "rejected", "failed"]


class Target(Model):
    """One number to call. `to` is checked by the operator, not at admission, so one bad
    row is reported by its index and the others still go out."""

    to: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="The number (E.164) to call."
    )
    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict, max_length=64, description="Call metadata for this target."
    )


class TargetsFrom(Model):
    """A CSV in a ConfigMap: a header row naming the columns, then one target per row."""

    config_map_ref: LocalObjectRef = Field(description="ConfigMap in the same namespace.")
    key: DataKey = Field(default="targets.csv", description="Key of the CSV in the ConfigMap.")
    number_column: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        default="number", description="Column with the number; the others become context."
    )


class CallingWindow(Model):
    """When calls may start: on these days, from start to end (local time of timeZone)."""

    days: list[Day] = Field(
        min_length=1,
        max_length=7,
        description="Days of the week, e.g. [Mon, Tue, Wed, Thu, Fri].",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    start: ClockTime = Field(description="Opening time, HH:MM.")
    end: ClockTime = Field(description="Closing time, HH:MM, after start (same day).")


class RetryPolicy(Model):
    """Call a target again after this result, up to `attempts` more times."""

    result: RetryResult = Field(description="busy, no-answer, rejected or failed.")
    attempts: int = Field(ge=1, le=10, description="Extra attempts after this result.")
    after: Duration = Field(description="Wait between attempts, e.g. 10m, 1h.")


class CallCampaignSpec(Model):
    """Desired campaign."""

    voice_agent_ref: VoiceAgentRef = Field(description="The agent that talks on every call.")
    trunk_ref: LocalObjectRef = Field(description="SipTrunk with spec.outbound to dial through.")
    from_: E164 | None = Field(
        default=None, alias="from", description="Caller ID (E.164), one of the trunk's numbers."
    )
    targets: list[Target] = Field(
        default_factory=list, max_length=MAX_INLINE, description="Targets inline."
    )
    targets_from: TargetsFrom | None = Field(
        default=None, description="Targets from a ConfigMap CSV (after the inline ones)."
    )
    max_concurrent_calls: int = Field(
        default=5, ge=1, le=1000, description="Calls of this campaign in flight at once."
    )
    calls_per_second: float = Field(
        default=1.0, gt=0, le=100, description="How fast new calls start."
    )
    calling_windows: list[CallingWindow] = Field(
        default_factory=list, max_length=32, description="When calls may start; empty: always."
    )
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="UTC", description="IANA time zone of the windows, e.g. America/New_York."
    )
    retries: list[RetryPolicy] = Field(
        default_factory=list, max_length=4, description="Retries per result."
    )
    suspend: bool = Field(default=False, description="Pause: start no new calls.")
    ringing_timeout: Annotated[GoDuration, DurationBounds("1s", "10m")] = Field(
        default="30s", description="How long each call may ring."
    )
    max_call_duration: CallDuration = Field(default="10m", description="Limit per call.")


class Counts(Model):
    """Targets by final result."""

    answered: int = Field(default=0, description="Answered.")
    busy: int = Field(default=0, description="Busy after every retry.")
    no_answer: int = Field(default=0, description="Not answered after every retry.")
    rejected: int = Field(default=0, description="Declined after every retry.")
    failed: int = Field(default=0, description="Failed after every retry.")
    invalid: int = Field(default=0, description="Rows the operator could not use.")


class CallCampaignStatus(Model):
    """Observed state of a campaign (per-target results are in its OutboundCalls)."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, TargetsValid and Completed conditions.",
        json_schema_extra=CONDITIONS_FIELD_EXTRA,
    )
    observed_generation: int | None = Field(default=None, description="Generation reconciled.")
    total: int = Field(default=0, description="Targets (valid and invalid).")
    counts: Counts | None = Field(default=None, description="Targets by final result.")
    in_flight: int = Field(default=0, description="Calls not finished yet.")
    remaining: int = Field(default=0, description="Targets without a final result.")
    cursor: int = Field(default=0, description="Next target row to materialise.")
    next_window: str | None = Field(
        default=None,
        description="When the calling window opens next, while it is closed (RFC 3339).",
    )


class CallCampaign(Model):
    """A batch of outbound calls placed by one VoiceAgent."""

    spec: CallCampaignSpec = Field(description="Desired state.")
    status: CallCampaignStatus | None = Field(default=None, description="Observed state.")
