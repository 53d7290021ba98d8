"""Unit tests of the cost arithmetic (golden figures) and the price table's merging and defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from switchboard_contract.pricing import LlmPrice, Priced, Pricing, Usage, price_call, price_key
from switchboard_contract.pricing_defaults import DEFAULT_PRICING, SOURCES

pytestmark = pytest.mark.unit

TABLE = Pricing(
    stt={"deepgram": 0.0059, "deepgram/nova-3": 0.0052},
    llm={"openai/gpt-4.1-mini": LlmPrice(input=0.40, output=1.60)},
    tts={"cartesia": 50.0},
    telephony={"sip": 0.0034, "web": 0.0},
)
# a 3-minute call: 95 s of caller audio, 12 400 prompt tokens, 310 reply tokens, 820 characters
USAGE = Usage(stt_audio_s=95.0, llm_input_tokens=12_400, llm_output_tokens=310, tts_characters=820)
CLOUD = Priced(stt="deepgram/nova-3", llm="openai/gpt-4.1-mini", tts="cartesia/sonic-2")


def test_a_call_is_priced_stage_by_stage_golden() -> None:
    cost = price_call(TABLE, CLOUD, USAGE, duration_s=180.0)
    assert cost.stt == 0.008233  # 95/60 min x 0.0052 (the model's own price, not deepgram's)
    assert cost.llm == 0.005456  # 12400 x 0.40/1M + 310 x 1.60/1M
    assert cost.tts == 0.041  # 820 x 50/1M (cartesia prices every model alike)
    assert cost.telephony == 0.0102  # 3 min x 0.0034
    assert cost.total == 0.064889
    assert cost.unpriced == []


def test_an_unknown_provider_is_unpriced_not_free() -> None:
    used = Priced(stt="deepgram/nova-3", llm="openai/gpt-9", tts="elevenlabs", channel="twilio")
    cost = price_call(TABLE, used, USAGE, duration_s=60.0)
    assert (cost.llm, cost.tts, cost.telephony) == (None, None, None)
    assert cost.unpriced == ["llm:openai/gpt-9", "tts:elevenlabs", "telephony:twilio"]
    assert cost.total == cost.stt == 0.008233


def test_a_realtime_call_has_no_stt_or_tts_part() -> None:
    used = Priced(llm="openai/gpt-4.1-mini", channel="web")
    cost = price_call(TABLE, used, Usage(llm_input_tokens=1_000_000), duration_s=60.0)
    assert (cost.stt, cost.tts, cost.llm, cost.telephony, cost.total) == (None, None, 0.4, 0.0, 0.4)
    assert cost.unpriced == []


def test_an_override_replaces_entries_not_tables() -> None:
    ours = Pricing(llm={"openai/gpt-4.1-mini": LlmPrice(input=0.2, output=0.8)})
    merged = TABLE.merged(ours)
    assert merged.llm["openai/gpt-4.1-mini"].input == 0.2
    assert merged.stt == TABLE.stt and merged.telephony == TABLE.telephony
    assert TABLE.merged(None) is TABLE


def test_bad_prices_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"stt\.deepgram"):
        Pricing.model_validate({"stt": {"deepgram": -1}})
    with pytest.raises(ValidationError, match="llm"):
        Pricing.model_validate({"llm": {"Open AI": {"input": 1, "output": 1}}})


def test_every_shipped_cloud_price_names_its_source() -> None:
    tables = {"stt": DEFAULT_PRICING.stt, "llm": DEFAULT_PRICING.llm, "tts": DEFAULT_PRICING.tts}
    offline = {"pocketsphinx", "scripted", "flite"}
    for stage, table in tables.items():
        for key in table:
            assert key in offline or f"{stage}:{key}" in SOURCES, f"{stage}:{key} has no source"
    for key, price in DEFAULT_PRICING.telephony.items():
        assert price == 0.0 or f"telephony:{key}" in SOURCES
    assert price_key("deepgram", None) == "deepgram"
    assert price_key("deepgram", "nova-3") == "deepgram/nova-3"
