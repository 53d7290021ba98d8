"""The price table that ships: list prices for the providers we support, each with its source.

These are pay-as-you-go list prices, read on the date given from the page given (for some
providers a reseller or price tracker quoting the provider's rate, said so below). Contracts,
volume tiers and currency differ: override them operator-wide (chart `pricing`) or per
VoiceAgent (`spec.pricing`). The offline providers (pocketsphinx, scripted, flite) run on your
own nodes and cost nothing per unit; their cost is the worker pod's.
"""

from __future__ import annotations

from switchboard_contract.pricing import LlmPrice, Pricing

READ_ON = "2026-12-03"

# key -> (where the figure was read, what kind of page it is)
SOURCES: dict[str, tuple[str, str]] = {
    "stt:deepgram/nova-3": (
        "https://aigateway.sh/models/deepgram/nova-3",
        "reseller quoting Deepgram's pass-through Nova-3 rate",
    ),
    "stt:openai/whisper-1": (
        "https://theneuralbase.com/whisper-api/learn/beginner/0-006-per-minute-pricing/",
        "tutorial quoting OpenAI's whisper-1 rate",
    ),
    "llm:openai/gpt-4.1-mini": (
        "https://github.com/Sraleik/undetermini/blob/HEAD/PRICING.md",
        "price table verified 2026-05-07 against two trackers",
    ),
    "llm:openai/gpt-4o-mini": (
        "https://openrouter.ai/openai/gpt-4o-mini-2024-07-18/parameters",
        "OpenRouter listing at OpenAI's rate",
    ),
    "tts:cartesia": ("https://apio.sh/apis/cartesia", "tracker, 'starts at' list price"),
    "tts:openai/tts-1": (
        "https://community.openai.com/t/precise-pricing-for-tts-api/634297",
        "OpenAI forum: tts-1 at $0.015 per 1000 characters",
    ),
    "telephony:twilio": (
        "https://support.twilio.com/hc/en-us/articles/223183328",
        "Twilio's inbound local US minute, before volume discounts",
    ),
}

DEFAULT_PRICING = Pricing(
    # by model where the price depends on it: an unpriced model shows as unpriced, not at
    # another model's rate
    stt={
        "deepgram/nova-3": 0.0052,
        "openai/whisper-1": 0.006,
        "pocketsphinx": 0.0,
    },
    llm={
        "openai/gpt-4.1-mini": LlmPrice(input=0.40, output=1.60),
        "openai/gpt-4o-mini": LlmPrice(input=0.15, output=0.60),
        "scripted": LlmPrice(input=0.0, output=0.0),
    },
    tts={
        "cartesia": 50.0,  # per character across its Sonic models
        "openai/tts-1": 15.0,
        "flite": 0.0,
    },
    # Media streams arrive as the carrier's own call minute; web and sipws reach LiveKit with
    # no carrier at all. SIP and the other carriers depend on the trunk: priced by override.
    telephony={
        "twilio": 0.0085,
        "web": 0.0,
        "sipws": 0.0,
        "livekit": 0.0,
    },
)
