"""The call summary: latencies from the turns, usage from the session, the cost, at call end."""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.metrics.usage import (
    AgentSessionUsage,
    LLMModelUsage,
    STTModelUsage,
    TTSModelUsage,
)
from livekit.agents.voice import ConversationItemAddedEvent
from opentelemetry import trace
from switchboard_contract import AgentConfig
from switchboard_contract.analytics import (
    LATENCY_STAGES,
    SUMMARY_PATH,
    CallResult,
    CallSummary,
    StageStats,
)
from switchboard_contract.channels import Channel
from switchboard_contract.pricing import Priced, Usage, price_call, price_key
from switchboard_contract.report import ENV_REPORT_TOKEN, ENV_REPORT_URL, REPORT_PATH

from switchboard_agent.report import post_json

logger = logging.getLogger("switchboard.agent")

# CallLifecycle's end reasons and livekit-agents' CloseReason values, as a call's result
RESULTS: dict[str, CallResult] = {
    "end_call": "completed",
    "task_completed": "completed",
    "transferred": "transferred",
    "max_call_duration": "timeout",
    "participant_disconnected": "caller-hangup",
    "user_initiated": "caller-hangup",
    "error": "error",
}
ATTR_PREFIX = "switchboard.call."
SEND_TIMEOUT_S = 2.0  # the job is ending: one try; a lost summary costs a dashboard point


def result_of(end_reason: str | None) -> CallResult:
    # job_shutdown (the worker drained, the room went away) and no reason at all: the call
    # ended without anyone failing, as far as the worker saw
    return RESULTS.get(end_reason or "", "completed")


def usage_of(usage: AgentSessionUsage) -> Usage:
    """The session's usage, summed over its models."""
    stt_s, tokens_in, tokens_out, chars = 0.0, 0, 0, 0
    for model in usage.model_usage:
        if isinstance(model, STTModelUsage):
            stt_s += model.audio_duration
        elif isinstance(model, LLMModelUsage):
            tokens_in += model.input_tokens
            tokens_out += model.output_tokens
        elif isinstance(model, TTSModelUsage):
            chars += model.characters_count
    return Usage(
        stt_audio_s=round(stt_s, 3),
        llm_input_tokens=tokens_in,
        llm_output_tokens=tokens_out,
        tts_characters=chars,
    )


def priced_of(config: AgentConfig, channel: Channel) -> Priced:
    """The price keys of this VoiceAgent's providers (a realtime model prices as the LLM)."""
    if config.realtime is not None:
        return Priced(llm=price_key("openai", config.realtime.model), channel=str(channel))
    pipeline = config.pipeline
    assert pipeline is not None  # AgentConfig: exactly one of pipeline and realtime
    return Priced(
        stt=price_key(pipeline.stt.provider, pipeline.stt.model),
        llm=price_key(pipeline.llm.provider, pipeline.llm.model),
        tts=price_key(pipeline.tts.provider, pipeline.tts.model),
        channel=str(channel),
    )


def stage_stats(turns: Sequence[Mapping[str, float]]) -> dict[str, StageStats]:
    out: dict[str, StageStats] = {}
    for stage in LATENCY_STAGES:
        values = [t[stage] for t in turns if t.get(stage) is not None and t[stage] >= 0]
        if values:
            out[stage] = StageStats(
                p50=round(statistics.median(values), 4), max=round(max(values), 4), n=len(values)
            )
    return out


def build_summary(
    config: AgentConfig,
    *,
    job_id: str,
    channel: Channel,
    end_reason: str | None,
    started_at: float,
    ended_at: float,
    turns: Sequence[Mapping[str, float]],
    interruptions: int,
    usage: Usage,
) -> CallSummary:
    """Pure: one call's summary from what the session measured."""
    duration = round(max(0.0, ended_at - started_at), 3)
    priced = priced_of(config, channel)
    return CallSummary(
        namespace=config.voice_agent.namespace,
        voice_agent=config.voice_agent.name,
        job_id=job_id,
        channel=channel,
        result=result_of(end_reason),
        started_at=round(started_at, 3),
        duration_s=duration,
        turns=len(turns),
        interruptions=interruptions,
        latency=stage_stats(turns),  # type: ignore[arg-type]
        usage=usage,
        priced=priced,
        cost=price_call(config.price_table(), priced, usage, duration),
    )


def span_attributes(summary: CallSummary) -> dict[str, Any]:
    """The summary as the call's root-span attributes (switchboard.call.*)."""
    attrs: dict[str, Any] = {
        "result": summary.result,
        "duration_s": summary.duration_s,
        "turns": summary.turns,
        "interruptions": summary.interruptions,
        "cost.total_usd": summary.cost.total,
        **{f"usage.{k}": v for k, v in summary.usage.model_dump(by_alias=False).items()},
    }
    for part in ("stt", "llm", "tts", "telephony"):
        if (value := getattr(summary.cost, part)) is not None:
            attrs[f"cost.{part}_usd"] = value
    for stage, stats in summary.latency.items():
        attrs[f"latency.{stage}.p50_s"] = stats.p50
        attrs[f"latency.{stage}.max_s"] = stats.max
    return {ATTR_PREFIX + k: v for k, v in attrs.items()}


class SummaryCollector:
    """Counts interruptions as the session runs; at call end, builds, records and sends."""

    def __init__(self, config: AgentConfig, job_id: str, channel: Channel) -> None:
        self.config, self.job_id, self.channel = config, job_id, channel
        self.started_at = time.time()
        self.interruptions = 0
        self._root = trace.get_current_span()

    def attach(self, session: AgentSession[Any]) -> None:
        session.on("conversation_item_added", self._on_item)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, llm.ChatMessage) and item.role == "assistant" and item.interrupted:
            self.interruptions += 1

    async def finish(
        self,
        session: AgentSession[Any],
        turns: Sequence[Mapping[str, float]],
        end_reason: str | None,
    ) -> CallSummary:
        summary = build_summary(
            self.config,
            job_id=self.job_id,
            channel=self.channel,
            end_reason=end_reason,
            started_at=self.started_at,
            ended_at=time.time(),
            turns=turns,
            interruptions=self.interruptions,
            usage=usage_of(session.usage),
        )
        self._root.set_attributes(span_attributes(summary))
        logger.info(
            "call summary",
            extra={
                "result": summary.result,
                "duration_s": summary.duration_s,
                "turns": summary.turns,
                "cost_usd": summary.cost.total,
            },
        )
        await asyncio.to_thread(send, summary)
        return summary


def send(summary: CallSummary, env: Mapping[str, str] | None = None) -> int:
    """POST the summary to the operator (0: no report channel, or nobody answered)."""
    env = os.environ if env is None else env
    url = env.get(ENV_REPORT_URL)
    if not url:
        return 0
    target = url.removesuffix(REPORT_PATH) + SUMMARY_PATH
    body = summary.model_dump_json().encode()
    status = post_json(target, env.get(ENV_REPORT_TOKEN, ""), body, timeout=SEND_TIMEOUT_S)
    if status != 200:
        logger.warning("call summary: operator answered %d", status)
    return status
