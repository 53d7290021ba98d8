"""The call summary: what a worker reports about each call when it ends (POST SUMMARY_PATH).

Built only from counts, durations, enums and the LiveKit job ID: there is no field a phone
number, a transcript or a prompt could go in, so none can reach the operator, its status or
metrics. (Not the room either: livekit-sip names a caller's room after their number.)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from switchboard_contract.base import Frozen
from switchboard_contract.channels import Channel
from switchboard_contract.pricing import CallCost, Priced, Usage
from switchboard_contract.report import DnsLabel, DnsSubdomain

SUMMARY_PATH = "/v1/summaries"

CallResult = Literal["completed", "caller-hangup", "transferred", "timeout", "error"]
# Per turn, in seconds from the caller's end of speech (livekit-agents' own measures):
#   stt_delay: the final transcript; eou_delay: the turn is taken (endpointing);
#   llm_ttft: the LLM's first token, from the LLM request; tts_ttfb: TTS's first audio byte,
#   from the TTS request; e2e_latency: the agent's first audio out (voice-to-voice at the agent).
LatencyStage = Literal["stt_delay", "eou_delay", "llm_ttft", "tts_ttfb", "e2e_latency"]
LATENCY_STAGES: tuple[LatencyStage, ...] = (
    "stt_delay",
    "eou_delay",
    "llm_ttft",
    "tts_ttfb",
    "e2e_latency",
)
Seconds = Annotated[float, Field(ge=0, le=86_400)]


class StageStats(Frozen):
    """One stage over a call's turns (seconds)."""

    p50: Seconds
    max: Seconds
    n: int = Field(ge=1, le=100_000, description="turns that measured this stage")


class CallSummary(Frozen):
    """One call, as its worker saw it end."""

    model_config = ConfigDict(strict=True)

    namespace: DnsLabel
    voice_agent: DnsSubdomain
    job_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    channel: Channel
    result: CallResult
    started_at: float = Field(ge=0, description="unix time the caller joined")
    duration_s: Seconds
    turns: int = Field(ge=0, le=100_000, description="agent replies to the caller")
    interruptions: int = Field(ge=0, le=100_000, description="replies the caller cut off")
    latency: dict[LatencyStage, StageStats] = Field(default_factory=dict)
    usage: Usage
    priced: Priced = Field(description="the price keys the cost was computed with")
    cost: CallCost
