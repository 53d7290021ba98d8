"""Unit tests of the call summary: built from turns and usage (golden), results, span attributes."""

from __future__ import annotations

import json

import pytest
from livekit.agents.metrics.usage import (
    AgentSessionUsage,
    LLMModelUsage,
    STTModelUsage,
    TTSModelUsage,
)
from switchboard_agent.summary import build_summary, result_of, span_attributes, usage_of
from switchboard_contract.analytics import CallSummary
from switchboard_contract.channels import Channel

from tests.support.agent_configs import offline_config

pytestmark = pytest.mark.unit

TURNS = [
    {"stt_delay": 0.31, "eou_delay": 0.52, "llm_ttft": 0.20, "tts_ttfb": 0.11, "e2e_latency": 0.95},
    {"stt_delay": 0.29, "eou_delay": 0.48, "llm_ttft": 0.40, "tts_ttfb": 0.09, "e2e_latency": 1.21},
    {"eou_delay": 0.50, "llm_ttft": 0.30, "tts_ttfb": 0.10, "e2e_latency": 1.02},  # no STT timing
]
PRICING = {
    "stt": {"pocketsphinx": 0.006},  # as if it were a hosted STT: the arithmetic runs end to end
    "llm": {"scripted": {"input": 1.0, "output": 4.0}},
    "tts": {"flite": 30.0},
    "telephony": {"sip": 0.01},
}


def summary(**kw: object) -> CallSummary:
    args: dict = {
        "job_id": "AJ_abc",
        "channel": Channel.SIP,
        "end_reason": "participant_disconnected",
        "started_at": 1_760_000_000.25,
        "ended_at": 1_760_000_090.25,
        "turns": TURNS,
        "interruptions": 1,
        "usage": usage_of(
            AgentSessionUsage(
                model_usage=[
                    STTModelUsage(provider="pocketsphinx", model="en-us", audio_duration=30.0),
                    LLMModelUsage(
                        provider="scripted", model="s", input_tokens=2000, output_tokens=50
                    ),
                    LLMModelUsage(provider="scripted", model="s", input_tokens=500),
                    TTSModelUsage(provider="flite", model="slt", characters_count=400),
                ]
            )
        ),
    }
    args.update(kw)
    return build_summary(offline_config(pricing=PRICING), **args)  # type: ignore[arg-type]


def test_summary_golden() -> None:
    got = json.loads(summary().model_dump_json())
    assert got == {
        "namespace": "default",
        "voiceAgent": "front-desk",
        "jobId": "AJ_abc",
        "channel": "sip",
        "result": "caller-hangup",
        "startedAt": 1_760_000_000.25,
        "durationS": 90.0,
        "turns": 3,
        "interruptions": 1,
        "latency": {
            "stt_delay": {"p50": 0.3, "max": 0.31, "n": 2},
            "eou_delay": {"p50": 0.5, "max": 0.52, "n": 3},
            "llm_ttft": {"p50": 0.3, "max": 0.4, "n": 3},
            "tts_ttfb": {"p50": 0.1, "max": 0.11, "n": 3},
            "e2e_latency": {"p50": 1.02, "max": 1.21, "n": 3},
        },
        "usage": {
            "sttAudioS": 30.0,
            "llmInputTokens": 2500,
            "llmOutputTokens": 50,
            "ttsCharacters": 400,
        },
        "priced": {"stt": "pocketsphinx", "llm": "scripted", "tts": "flite", "channel": "sip"},
        # 0.5 min x 0.006; 2500 x 1/1M + 50 x 4/1M; 400 x 30/1M; 1.5 min x 0.01
        "cost": {
            "stt": 0.003,
            "llm": 0.0027,
            "tts": 0.012,
            "telephony": 0.015,
            "total": 0.0327,
            "unpriced": [],
        },
    }


@pytest.mark.parametrize(
    ("reason", "result"),
    [
        ("end_call", "completed"),
        ("transferred", "transferred"),
        ("max_call_duration", "timeout"),
        ("participant_disconnected", "caller-hangup"),
        ("error", "error"),
        ("job_shutdown", "completed"),
        (None, "completed"),
    ],
)
def test_end_reasons_map_to_results(reason: str | None, result: str) -> None:
    assert result_of(reason) == result


def test_shipped_prices_apply_without_an_override() -> None:
    cfg = offline_config()  # no pricing: the shipped table, where the offline providers are free
    got = build_summary(
        cfg,
        job_id="AJ_x",
        channel=Channel.WEB,
        end_reason="end_call",
        started_at=0.0,
        ended_at=60.0,
        turns=[],
        interruptions=0,
        usage=usage_of(AgentSessionUsage(model_usage=[])),
    )
    assert (got.cost.total, got.cost.unpriced, got.latency) == (0.0, [], {})


def test_span_attributes_carry_the_summary_and_nothing_personal() -> None:
    attrs = span_attributes(summary())
    assert attrs["switchboard.call.result"] == "caller-hangup"
    assert attrs["switchboard.call.cost.total_usd"] == 0.0327
    assert attrs["switchboard.call.latency.e2e_latency.p50_s"] == 1.02
    assert attrs["switchboard.call.usage.llm_input_tokens"] == 2500
    assert all(isinstance(v, int | float | str) for v in attrs.values())
    # the summary has no field for a number or a transcript: nothing in it looks like one
    blob = summary().model_dump_json()
    assert "+1" not in blob and "transcript" not in blob.lower()
