"""Outbound calls between operator and worker: the dispatch metadata and the call reports."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from switchboard_contract.base import Frozen
from switchboard_contract.report import DnsLabel, DnsSubdomain

# The worker POSTs call reports here, on the report endpoint, with its report token.
CALLS_PATH = "/v1/calls"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"  # the API's numbers (switchboard.api.common) too
E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN, max_length=16)]

Result = Literal["answered", "busy", "no-answer", "rejected", "failed"]
RESULTS: tuple[Result, ...] = ("answered", "busy", "no-answer", "rejected", "failed")
# What a worker tells the operator, in the order they happen. `dialing` is a claim: the
# worker dials only after the operator has recorded it (exactly once, see README).
CallEvent = Literal["dialing", "answered", "ended"]

# SIP finals that mean the callee (not the network) said no, and the timeouts of a call
# that rang out: 408 Request Timeout, 480 Temporarily Unavailable, 487 after our CANCEL.
_BUSY = frozenset({486, 600})
_REJECTED = frozenset({603, 403})
_NO_ANSWER = frozenset({408, 480, 487})


def classify(sip_status: int | None) -> Result:
    """The result of a dial from its final SIP status (None: no SIP answer at all)."""
    if sip_status is not None and 200 <= sip_status < 300:
        return "answered"
    if sip_status in _BUSY:
        return "busy"
    if sip_status in _REJECTED:
        return "rejected"
    if sip_status in _NO_ANSWER:
        return "no-answer"
    return "failed"


class CallRef(Frozen):
    """The OutboundCall a job belongs to; the UID makes a re-created namesake a stranger."""

    namespace: DnsLabel
    name: DnsSubdomain
    uid: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OutboundDial(Frozen):
    """The agent dispatch metadata of an outbound call: everything the worker dials with."""

    call: CallRef
    sip_trunk_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    to: E164
    from_number: E164 | None = None
    ringing_timeout_s: float = Field(gt=0, le=600)
    max_call_duration_s: float = Field(gt=0, le=7 * 86400)
    # what the agent sees as call metadata (spec.context, a campaign row's columns)
    context: dict[str, Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=dict, max_length=64
    )


class CallReport(Frozen):
    """What a worker says about one outbound call (POST CALLS_PATH, the report token)."""

    model_config = ConfigDict(strict=True)

    namespace: DnsLabel = Field(description="VoiceAgent namespace (the token's)")
    voice_agent: DnsSubdomain = Field(description="VoiceAgent name (the token's)")
    call: CallRef
    job_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="the LiveKit job: a repeated claim by the same job is the same claim"
    )
    event: CallEvent
    at: float = Field(ge=0, description="unix time the event happened at the worker")
    answered_at: float | None = Field(default=None, ge=0, description="on `ended`: unix time")
    result: Result | None = None
    sip_status: int | None = Field(default=None, ge=100, le=699)
    sip_call_id: Annotated[str, StringConstraints(max_length=128)] | None = None
