"""Tracing: one trace per call rooted at livekit's `job_entrypoint`, exported over OTLP/HTTP."""

from __future__ import annotations

import logging
from typing import Any

from livekit.agents import llm, telemetry
from livekit.agents.voice import AgentSession, ConversationItemAddedEvent
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from switchboard_contract import AgentConfig
from switchboard_contract.channels import ATTR_CHANNEL

from switchboard_agent.caller_id import (
    ATTR_CALL_ID,
    ATTR_PHONE_NUMBER,
    ATTR_RULE_ID,
    ATTR_TRUNK_ID,
    CallerInfo,
)

logger = logging.getLogger("switchboard.agent")

ATTR_VOICEAGENT = "switchboard.voiceagent"
ATTR_NAMESPACE = "switchboard.namespace"
ATTR_AGENT_NAME = "switchboard.agent_name"
ATTR_CALLER_HASH = "switchboard.caller.number_hash"
ATTR_CALLER_SIP = "switchboard.caller.sip"
ATTR_END_REASON = "switchboard.call.end_reason"
TURN_EVENT = "switchboard.turn"
# per-turn latency attributes (seconds) on the TURN_EVENT of the root span
TURN_USER_KEYS = {"end_of_turn_delay": "eou_delay", "transcription_delay": "stt_delay"}
TURN_AGENT_KEYS = {
    "llm_node_ttft": "llm_ttft",
    "tts_node_ttfb": "tts_ttfb",
    "e2e_latency": "e2e_latency",
}


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP traces URL: a base endpoint gets `/v1/traces` appended (OTLP convention)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def static_attributes(config: AgentConfig) -> dict[str, str]:
    return {
        ATTR_VOICEAGENT: config.voice_agent.name,
        ATTR_NAMESPACE: config.voice_agent.namespace,
        ATTR_AGENT_NAME: config.agent_name,
    }


class _FlushOnRootEnd(SpanProcessor):
    """Exports the call's trace as soon as its root span ends (job processes exit after)."""

    def __init__(self, batch: BatchSpanProcessor) -> None:
        self._batch = batch

    def on_end(self, span: ReadableSpan) -> None:
        if span.parent is None:
            self._batch.force_flush(timeout_millis=5000)


def setup_tracing(config: AgentConfig) -> TracerProvider | None:
    """Install the OTLP exporter for livekit-agents' tracer (call in the job process)."""
    tel = config.telemetry
    if not tel.otlp_endpoint:
        return None
    attrs = static_attributes(config)
    provider = TracerProvider(
        resource=Resource.create({"service.name": "switchboard-agent", **attrs}),
        sampler=ParentBased(TraceIdRatioBased(tel.sampling_ratio)),
    )
    exporter = OTLPSpanExporter(endpoint=traces_url(tel.otlp_endpoint), timeout=5)
    batch = BatchSpanProcessor(exporter, schedule_delay_millis=1000)
    provider.add_span_processor(batch)
    provider.add_span_processor(_FlushOnRootEnd(batch))
    telemetry.set_tracer_provider(provider, metadata=dict(attrs), allow_pii=not tel.redact_pii)
    return provider


def flush_tracing(provider: TracerProvider | None) -> None:
    if provider is not None:
        provider.force_flush(timeout_millis=5000)


def annotate_call(config: AgentConfig, caller: CallerInfo) -> None:
    """Stamp the call's identity on the root span (the current span in the entrypoint).

    The SIP IDs use the participant attribute names, so a span joins livekit-sip's logs.
    """
    span = trace.get_current_span()
    attrs: dict[str, Any] = {
        **static_attributes(config),
        ATTR_CALLER_SIP: caller.is_sip,
        ATTR_CHANNEL: str(caller.channel),
    }
    ids = {
        ATTR_CALL_ID: caller.call_id,
        ATTR_TRUNK_ID: caller.trunk_id,
        ATTR_RULE_ID: caller.rule_id,
    }
    attrs.update({key: value for key, value in ids.items() if value})
    if caller.number_hash:
        attrs[ATTR_CALLER_HASH] = caller.number_hash
        if not config.telemetry.redact_pii and caller.phone_number:
            attrs[ATTR_PHONE_NUMBER] = caller.phone_number  # redactPII off
    span.set_attributes(attrs)


class TurnRecorder:
    """Per-turn latencies (EOU delay, LLM TTFT, TTS TTFB, end to end) as root-span events."""

    def __init__(self, root: trace.Span) -> None:
        self._root = root
        self._user: dict[str, float] = {}
        self.turns: list[dict[str, float]] = []

    def attach(self, session: AgentSession[Any]) -> None:
        session.on("conversation_item_added", self._on_item)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage):
            return
        metrics: dict[str, Any] = dict(item.metrics or {})
        if item.role == "user":
            self._user = {v: float(metrics[k]) for k, v in TURN_USER_KEYS.items() if k in metrics}
            return
        if item.role != "assistant":
            return
        turn = {
            **self._user,
            **{v: float(metrics[k]) for k, v in TURN_AGENT_KEYS.items() if k in metrics},
        }
        self._user = {}
        turn["index"] = float(len(self.turns))
        self.turns.append(turn)
        self._root.add_event(TURN_EVENT, {f"switchboard.turn.{k}": v for k, v in turn.items()})
