"""The VoiceAgent status' call figures (status.calls), from the call summaries its workers send."""

from __future__ import annotations

from pydantic import Field

from switchboard.api.common import Model


class CallStats(Model):
    """Calls that ended within one window."""

    calls: int = Field(default=0, description="Calls that ended.")
    answered: int = Field(default=0, description="Calls in which the agent replied at least once.")
    minutes: float = Field(default=0.0, description="Call minutes.")
    p50_voice_to_voice: str | None = Field(
        default=None,
        alias="p50VoiceToVoice",
        description="Median over calls of each call's median turn, end of speech -> first audio.",
    )
    p95_voice_to_voice: str | None = Field(
        default=None, alias="p95VoiceToVoice", description="95th percentile of the same."
    )
    cost: str | None = Field(default=None, description="USD, from the price table.")
    cost_per_minute: str | None = Field(default=None, description="USD per call minute.")
    unpriced_calls: int | None = Field(
        default=None, description="Calls with a stage the price table does not price."
    )


class CallAggregates(Model):
    """Rolling call figures (in the operator's memory: they refill after it restarts)."""

    last_hour: CallStats | None = Field(default=None, description="The last hour.")
    last24h: CallStats | None = Field(
        default=None, alias="last24h", description="The last 24 hours."
    )
