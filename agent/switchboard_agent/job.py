"""The job process side: prewarm (models, tracing) and the per-call entrypoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import AgentSession, AutoSubscribe, JobContext, JobProcess
from livekit.agents.voice import room_io
from livekit.agents.voice.turn import TurnHandlingOptions
from livekit.plugins import silero
from opentelemetry import trace
from switchboard_contract import AgentConfig
from switchboard_contract.outbound import OutboundDial

from switchboard_agent.call_lifecycle import CallLifecycle
from switchboard_agent.caller_id import caller_from_participant
from switchboard_agent.local import PocketsphinxSTT
from switchboard_agent.outbound import (
    CLAIM_DEADLINE_S,
    OUTCOME_DEADLINE_S,
    SHUTDOWN_REPORT_S,
    CallReporter,
    dial_of,
    place_call,
)
from switchboard_agent.persona import SwitchboardAgent
from switchboard_agent.providers import Pipeline, build_pipeline
from switchboard_agent.redact import PII_FILTER, install_pii_log_filter
from switchboard_agent.settings import load_config
from switchboard_agent.summary import SummaryCollector
from switchboard_agent.telemetry import TurnRecorder, annotate_call, setup_tracing

logger = logging.getLogger("switchboard.agent")

CALLER_WAIT_S = 60  # a dispatched job whose caller never shows up is ended after this


def prewarm(proc: JobProcess) -> None:
    """Runs once per warm process, before it gets a job: load everything slow here."""
    config = load_config()
    proc.userdata["config"] = config
    if config.telemetry.redact_pii:
        install_pii_log_filter()
    # before the job's first span (livekit's job_entrypoint root) is started
    proc.userdata["tracer"] = setup_tracing(config)
    proc.userdata["vad"] = vad = silero.VAD.load()
    pipeline = build_pipeline(config.pipeline, config.realtime, vad=vad)
    if isinstance(pipeline.stt, PocketsphinxSTT):
        pipeline.stt.load()
    proc.userdata["pipeline"] = pipeline


def build_session(config: AgentConfig, pipeline: Pipeline, vad: Any) -> AgentSession[None]:
    """The AgentSession of one call: providers, VAD turn detection (or the realtime model's)."""
    realtime = config.realtime is not None
    providers: dict[str, Any] = {"llm": pipeline.llm}
    if pipeline.stt is not None:
        providers["stt"] = pipeline.stt
    if pipeline.tts is not None:
        providers["tts"] = pipeline.tts
    return AgentSession(
        **providers,
        vad=vad,
        turn_handling=TurnHandlingOptions(turn_detection="realtime_llm" if realtime else "vad"),
        user_away_timeout=None,
        # after a hangup nobody waits for the last transcript: free the slot quickly
        session_close_transcript_timeout=0.5,
    )


async def entrypoint(ctx: JobContext) -> None:
    """One call: wait for the caller, start the session, greet; the session ends the job."""
    config: AgentConfig = ctx.proc.userdata["config"]
    pipeline: Pipeline = ctx.proc.userdata["pipeline"]
    await ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)
    max_duration = config.max_call_duration
    dial = dial_of(ctx.job.metadata)
    if dial is not None:
        if not await _dial_out(ctx, config, dial):
            return
        max_duration = min(max_duration, int(dial.max_call_duration_s))
    try:
        participant = await asyncio.wait_for(
            ctx.wait_for_participant(), min(CALLER_WAIT_S, config.max_call_duration)
        )
    except TimeoutError:
        # the caller hung up before we joined (or never came): free the slot
        logger.info("no caller joined, ending the job", extra={"room": ctx.room.name})
        ctx.shutdown(reason="no caller")
        return
    caller = caller_from_participant(participant)
    if config.telemetry.redact_pii:
        PII_FILTER.add_sensitive(caller.identity, caller.phone_number)
    annotate_call(config, caller)
    logger.info("call started", extra={**caller.log_fields(), "room": ctx.room.name})

    session = build_session(config, pipeline, ctx.proc.userdata["vad"])
    turns = TurnRecorder(trace.get_current_span())
    turns.attach(session)
    summary = SummaryCollector(config, ctx.job.id, caller.channel)
    summary.attach(session)
    call = CallLifecycle(ctx, session, caller, max_duration)

    async def summarise() -> None:  # after the session closed: its usage is complete
        await summary.finish(session, turns.turns, call.end_reason)

    ctx.add_shutdown_callback(summarise)
    await session.start(
        agent=SwitchboardAgent(
            config=config,
            caller=caller,
            on_end_call=lambda: call.request_hang_up("end_call"),
            on_transferred=lambda: call.note_end("transferred"),
        ),
        room=ctx.room,
        room_options=room_io.RoomOptions(
            participant_identity=caller.identity, close_on_disconnect=True
        ),
        record=False,
    )
    call.start_timer()


async def _dial_out(ctx: JobContext, config: AgentConfig, dial: OutboundDial) -> bool:
    """Claim the call, dial it, report; True once answered (the session then greets).

    The claim comes first: the operator records it before we dial, so a call is dialled at
    most once however often it is dispatched, and a refused claim means someone else has it."""
    reporter = CallReporter.from_env(config, dial, ctx.job.id, None)
    if reporter is None:
        logger.error("outbound call refused: no operator report URL to claim it with")
        ctx.shutdown(reason="outbound call without a report channel")
        return False
    claimed = await reporter.send("dialing", deadline_s=CLAIM_DEADLINE_S)
    if claimed != 200:
        logger.info("outbound call not claimed (%d): not dialling", claimed)
        ctx.shutdown(reason="outbound call not claimed")
        return False
    outcome = await place_call(ctx.api, ctx.room.name, dial)
    if outcome.answered_at is None:
        await reporter.send(
            "ended", OUTCOME_DEADLINE_S, result=outcome.result, sip_status=outcome.sip_status
        )
        logger.info("outbound call %s (SIP %s)", outcome.result, outcome.sip_status)
        ctx.shutdown(reason=f"outbound {outcome.result}")
        return False
    # in the background: the greeting must not wait for the operator
    answered = asyncio.create_task(
        reporter.send("answered", SHUTDOWN_REPORT_S, sip_call_id=outcome.sip_call_id)
    )

    async def ended() -> None:
        await answered  # reports go in order (the reporter's lock), and the task stays referenced
        await reporter.send(
            "ended",
            SHUTDOWN_REPORT_S,
            result="answered",
            sip_status=outcome.sip_status,
            sip_call_id=outcome.sip_call_id,
            answered_at=outcome.answered_at,
        )

    ctx.add_shutdown_callback(ended)
    return True
