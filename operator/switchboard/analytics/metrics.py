"""Prometheus metrics of ended calls, from their summaries: latency by stage, minutes, cost.

Labels are bounded by construction: namespace and VoiceAgent (objects that exist), channel
and result (enums), stage (five), cost part (four) and provider (the API's provider names,
anything else counted as `other`). Nothing per call, and never a model name a tenant typed.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from switchboard_contract.analytics import LATENCY_STAGES, CallSummary
from switchboard_contract.config import LlmConfig, RealtimeConfig, SttConfig, TtsConfig

# Voice-to-voice lives between a few hundred ms and a few seconds; stages are shorter.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
PROVIDERS = frozenset(
    name
    for model in (SttConfig, LlmConfig, TtsConfig, RealtimeConfig)
    for name in get_args(model.model_fields["provider"].annotation)
)
COST_PARTS = ("stt", "llm", "tts", "telephony")


def provider_label(key: str | None) -> str:
    name = (key or "").split("/", 1)[0]
    return name if name in PROVIDERS else "other"


class CallMetrics:
    """One observation per ended call (its median turn for the latency histograms)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        who = ["namespace", "voiceagent"]
        self.calls = Counter(
            "switchboard_calls",
            "Calls ended, by channel and result",
            [*who, "channel", "result"],
            registry=registry,
        )
        self.voice_to_voice = Histogram(
            "switchboard_call_voice_to_voice_seconds",
            "Each call's median turn: caller's end of speech -> the agent's first audio",
            [*who, "channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage = Histogram(
            "switchboard_call_stage_seconds",
            "Each call's median turn per stage (stt_delay, eou_delay, llm_ttft, tts_ttfb, "
            "e2e_latency), from the caller's end of speech or the stage's request",
            [*who, "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.minutes = Counter(
            "switchboard_call_minutes",
            "Call minutes, by channel",
            [*who, "channel"],
            registry=registry,
        )
        self.cost = Counter(
            "switchboard_call_cost_usd",
            "Call cost in USD from the price table, by part and provider",
            [*who, "part", "provider"],
            registry=registry,
        )

    def observe(self, summary: CallSummary) -> None:
        who = (summary.namespace, summary.voice_agent)
        channel = str(summary.channel)
        self.calls.labels(*who, channel, summary.result).inc()
        self.minutes.labels(*who, channel).inc(summary.duration_s / 60)
        for stage in LATENCY_STAGES:
            if (stats := summary.latency.get(stage)) is not None:
                self.stage.labels(*who, stage).observe(stats.p50)
        if (e2e := summary.latency.get("e2e_latency")) is not None:
            self.voice_to_voice.labels(*who, channel).observe(e2e.p50)
        keys = {
            "stt": summary.priced.stt,
            "llm": summary.priced.llm,
            "tts": summary.priced.tts,
            "telephony": None,
        }
        for part in COST_PARTS:
            value = getattr(summary.cost, part)
            if value is not None:
                provider = channel if part == "telephony" else provider_label(keys[part])
                self.cost.labels(*who, part, provider).inc(value)
