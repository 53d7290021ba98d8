"""What a call costs: the price table (operator-wide, overridable per VoiceAgent), the arithmetic.

Prices are USD list prices. A table's key is a provider (`deepgram`) or a provider and model
(`deepgram/nova-3`); the model's own price wins over the provider's. A stage whose provider the
table does not price is reported as unpriced, never as free: a wrong zero on a dashboard is
worse than a visible gap.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import Field, StringConstraints

from switchboard_contract.base import Frozen

PriceKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9._:-]*)?$", max_length=128
    ),
]
ChannelKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=32)]
Usd = Annotated[float, Field(ge=0, le=1_000_000)]
MAX_ENTRIES = 200  # per table: a price list, not a database
T = TypeVar("T")


class LlmPrice(Frozen):
    """USD per million tokens."""

    input: Usd = Field(description="USD per 1M input (prompt) tokens.")
    output: Usd = Field(description="USD per 1M output (completion) tokens.")


class Pricing(Frozen):
    """USD list prices by provider or provider/model, and telephony by channel."""

    stt: dict[PriceKey, Usd] = Field(
        default_factory=dict, max_length=MAX_ENTRIES, description="USD per minute of audio."
    )
    llm: dict[PriceKey, LlmPrice] = Field(
        default_factory=dict, max_length=MAX_ENTRIES, description="USD per 1M tokens, in and out."
    )
    tts: dict[PriceKey, Usd] = Field(
        default_factory=dict, max_length=MAX_ENTRIES, description="USD per 1M characters."
    )
    telephony: dict[ChannelKey, Usd] = Field(
        default_factory=dict,
        max_length=MAX_ENTRIES,
        description="USD per call minute, by switchboard.channel (sip, twilio, web, ...).",
    )

    def merged(self, override: Pricing | None) -> Pricing:
        """This table with `override`'s entries on top (entry by entry, not table by table:
        a VoiceAgent that prices its own LLM keeps the operator's STT prices)."""
        if override is None:
            return self
        return Pricing(
            stt={**self.stt, **override.stt},
            llm={**self.llm, **override.llm},
            tts={**self.tts, **override.tts},
            telephony={**self.telephony, **override.telephony},
        )


class Usage(Frozen):
    """What a call consumed, as the providers count it."""

    stt_audio_s: float = Field(default=0.0, ge=0, description="seconds of audio transcribed")
    llm_input_tokens: int = Field(default=0, ge=0)
    llm_output_tokens: int = Field(default=0, ge=0)
    tts_characters: int = Field(default=0, ge=0)


class Priced(Frozen):
    """The providers a call used, as price keys: `provider` or `provider/model`."""

    stt: str | None = None
    llm: str | None = None
    tts: str | None = None
    channel: str = "sip"


class CallCost(Frozen):
    """USD, broken down; a part is None when the table does not price its provider."""

    stt: float | None = None
    llm: float | None = None
    tts: float | None = None
    telephony: float | None = None
    total: float = Field(description="the sum of the priced parts")
    unpriced: list[str] = Field(
        default_factory=list, description="stages without a price, e.g. llm:openai/gpt-x"
    )


def price_key(provider: str, model: str | None) -> str:
    return f"{provider}/{model}" if model else provider


def _lookup(table: dict[str, T], key: str) -> T | None:
    if key in table:
        return table[key]
    return table.get(key.split("/", 1)[0])


def _usd(value: float) -> float:
    return round(value, 6)  # micro-dollars: below any bill's resolution, stable in goldens


def price_call(pricing: Pricing, used: Priced, usage: Usage, duration_s: float) -> CallCost:
    """The cost of one call: usage times the table's prices, telephony by call minute."""
    parts: dict[str, float | None] = {}
    unpriced: list[str] = []

    def part(stage: str, key: str | None, cost: float | None) -> None:
        if key is None:  # the stage is not in this pipeline (realtime: no STT or TTS)
            return
        parts[stage] = None if cost is None else _usd(cost)
        if cost is None:
            unpriced.append(f"{stage}:{key}")

    if used.stt is not None:
        rate = _lookup(pricing.stt, used.stt)
        part("stt", used.stt, None if rate is None else rate * usage.stt_audio_s / 60)
    if used.llm is not None:
        llm = _lookup(pricing.llm, used.llm)
        cost = None
        if llm is not None:
            cost = (llm.input * usage.llm_input_tokens + llm.output * usage.llm_output_tokens) / 1e6
        part("llm", used.llm, cost)
    if used.tts is not None:
        rate = _lookup(pricing.tts, used.tts)
        part("tts", used.tts, None if rate is None else rate * usage.tts_characters / 1e6)
    minute = pricing.telephony.get(used.channel)
    part("telephony", used.channel, None if minute is None else minute * duration_s / 60)
    total = _usd(sum(v for v in parts.values() if v is not None))
    return CallCost(**parts, total=total, unpriced=unpriced)
