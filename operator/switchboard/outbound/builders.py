"""Pure OutboundCall builders: reference resolution, dispatch metadata, status documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from switchboard_contract.outbound import CallRef, CallReport, OutboundDial

from switchboard import reasons
from switchboard.api.common import parse_duration
from switchboard.api.outbound import OutboundCallSpec
from switchboard.conditions import rfc3339, set_condition
from switchboard.outcomes import Failure

READY = "Ready"
# Waiting for something another object provides (a VoiceAgent, a trunk ID): look again soon.
WAIT_REF_S = 5.0
# After the worker claimed the call: how long past ringing + maxCallDuration an outcome may
# take before the call counts as lost (a crashed worker). Lost calls are never redialled.
LOST_MARGIN_S = 120.0
MASK = "•••"


@dataclass(frozen=True)
class AgentInfo:
    """What a call needs from its VoiceAgent (from the index)."""

    agent_name: str | None
    livekit_secret: str | None


@dataclass(frozen=True)
class TrunkInfo:
    """What a call needs from its SipTrunk (from the index)."""

    outbound_trunk_id: str | None
    numbers: tuple[str, ...]
    has_outbound: bool
    livekit_secret: str | None


@dataclass(frozen=True)
class Resolved:
    agent_name: str
    trunk_id: str
    from_number: str
    livekit_secret: str | None


def mask_number(number: str) -> str:
    """`+15550100100` -> `+1555•••0100`: enough to tell calls apart, not to dial them."""
    if len(number) >= 10:
        return f"{number[:5]}{MASK}{number[-4:]}"
    return f"{number[:1]}{MASK}{number[-2:]}"


def room_name(uid: str) -> str:
    """The call's room: from the UID alone, so a restart finds the same one (no number in it)."""
    return f"oc-{uid}"


def resolve(
    namespace: str, spec: OutboundCallSpec, agent: AgentInfo | None, trunk: TrunkInfo | None
) -> Resolved | Failure:
    """The agent, trunk and caller ID to dial with, or why not (retry_s None: never)."""
    ref = spec.voice_agent_ref
    if ref.namespace is not None and ref.namespace != namespace:
        return Failure(
            reasons.CROSS_NAMESPACE,
            f"spec.voiceAgentRef.namespace: {ref.namespace!r} is not this namespace; "
            "a call may only use a VoiceAgent of its own namespace",
            None,
        )
    if agent is None:
        return Failure(
            reasons.VOICEAGENT_NOT_FOUND, f"VoiceAgent {ref.name!r} not found", WAIT_REF_S
        )
    if agent.agent_name is None:
        return Failure(
            reasons.VOICEAGENT_NOT_READY,
            f"VoiceAgent {ref.name!r} has no agent name yet",
            WAIT_REF_S,
        )
    name = spec.trunk_ref.name
    if trunk is None:
        return Failure(reasons.TRUNK_NOT_FOUND, f"SipTrunk {name!r} not found", WAIT_REF_S)
    if not trunk.has_outbound:
        return Failure(
            reasons.NO_OUTBOUND, f"SipTrunk {name!r} has no spec.outbound to dial through", 30.0
        )
    if trunk.outbound_trunk_id is None:
        return Failure(
            reasons.TRUNK_NOT_READY, f"SipTrunk {name!r} has no outbound trunk yet", WAIT_REF_S
        )
    if trunk.livekit_secret != agent.livekit_secret:
        return Failure(
            reasons.LIVEKIT_MISMATCH,
            f"SipTrunk {name!r} and VoiceAgent {ref.name!r} use different LiveKits",
            30.0,
        )
    caller = spec.from_ or trunk.numbers[0]
    if caller not in trunk.numbers:
        return Failure(
            reasons.NUMBER_NOT_ON_TRUNK_OUTBOUND,
            f"spec.from: {mask_number(caller)} is not an outbound number of SipTrunk {name!r}",
            30.0,
        )
    return Resolved(agent.agent_name, trunk.outbound_trunk_id, caller, agent.livekit_secret)


def dial_metadata(call: CallRef, spec: OutboundCallSpec, resolved: Resolved) -> str:
    """The agent dispatch metadata: the contract's OutboundDial as JSON."""
    dial = OutboundDial(
        call=call,
        sip_trunk_id=resolved.trunk_id,
        to=spec.to,
        from_number=resolved.from_number,
        ringing_timeout_s=parse_duration(spec.ringing_timeout).total_seconds(),
        max_call_duration_s=parse_duration(spec.max_call_duration).total_seconds(),
        context=dict(spec.context),
    )
    return json.dumps(dial.model_dump(mode="json", by_alias=True), sort_keys=True)


def lost_after_s(spec: OutboundCallSpec) -> float:
    """Seconds after the dial without an outcome before the call is Failed as lost."""
    ring = parse_duration(spec.ringing_timeout).total_seconds()
    return ring + parse_duration(spec.max_call_duration).total_seconds() + LOST_MARGIN_S


def format_duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "")
    return out + f"{secs}s"


def _ready(
    old: dict[str, Any], status: bool | str, reason: str, message: str, gen: int, now: datetime
) -> list[dict[str, Any]]:
    return set_condition(
        list(old.get("conditions") or []), READY, status, reason, message, generation=gen, now=now
    )


def pending_status(
    old: dict[str, Any], *, gen: int, now: datetime, why: Failure, to: str, agent: str
) -> dict[str, Any]:
    """Pending (or Failed when `why` never retries), Ready=False naming why."""
    phase = "Failed" if why.retry_s is None else "Pending"
    out = {
        **old,
        "phase": phase,
        "toMasked": mask_number(to),
        "agent": agent,
        "observedGeneration": gen,
        "conditions": _ready(old, False, why.reason, why.message, gen, now),
    }
    if phase == "Failed":
        out.update(result="failed", endTime=rfc3339(now))
    return out


def intent_status(old: dict[str, Any], *, gen: int, now: datetime, room: str) -> dict[str, Any]:
    """Dialing: the intent, written before the dispatch exists (a restart reads it back)."""
    message = "agent dispatched; waiting for a worker to dial"
    return {
        **old,
        "phase": "Dialing",
        "room": room,
        "startTime": rfc3339(now),
        "observedGeneration": gen,
        "conditions": _ready(old, False, reasons.DISPATCHED, message, gen, now),
    }


def condition_of(status: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) of the Ready condition, if any."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == READY:
            return str(cond.get("reason", "")), str(cond.get("message", ""))
    return None


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def report_status(old: dict[str, Any], report: CallReport) -> dict[str, Any]:
    """The status after a worker's report, from the phase the report follows."""
    gen = int(old.get("observedGeneration") or 0)
    at = _at(report.at)
    out = {**old, "jobID": report.job_id}
    if report.sip_call_id:
        out["sipCallID"] = report.sip_call_id
    if report.event == "dialing":
        message = "the worker sent the INVITE"
        out.update(phase="Ringing", dialTime=rfc3339(at))
        out["conditions"] = _ready(old, False, reasons.DIALING, message, gen, at)
    elif report.event == "answered":
        out.update(phase="InProgress", answerTime=rfc3339(at), result="answered")
        out["conditions"] = _ready(old, False, reasons.ANSWERED, "the callee answered", gen, at)
    else:
        result = report.result or "failed"
        done = result == "answered"
        out.update(phase="Completed" if done else "Failed", result=result, endTime=rfc3339(at))
        if report.sip_status is not None:
            out["sipStatus"] = report.sip_status
        if report.answered_at is not None:
            seconds = round(report.at - report.answered_at)
            out.update(durationSeconds=seconds, duration=format_duration(seconds))
            out["answerTime"] = out.get("answerTime") or rfc3339(_at(report.answered_at))
        code = f" (SIP {report.sip_status})" if report.sip_status else ""
        reason = reasons.CALL_COMPLETED if done else reasons.CALL_FAILED
        out["conditions"] = _ready(old, done, reason, f"{result}{code}", gen, at)
    return out


def ended_status(
    old: dict[str, Any], *, now: datetime, reason: str, message: str
) -> dict[str, Any]:
    """Failed by the operator: the worker was lost, or the call was deleted in flight."""
    gen = int(old.get("observedGeneration") or 0)
    return {
        **old,
        "phase": "Failed",
        "result": old.get("result") if old.get("result") == "answered" else "failed",
        "endTime": rfc3339(now),
        "conditions": _ready(old, False, reason, message, gen, now),
    }


def room_gone_status(old: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The call's room is gone but its end was never reported: an answered call completed
    (its duration counted to now), an unanswered one failed without a known result."""
    if old.get("phase") != "InProgress" or not old.get("answerTime"):
        message = "the call ended without a result from the worker; it is not redialled"
        return ended_status(old, now=now, reason=reasons.WORKER_LOST, message=message)
    gen = int(old.get("observedGeneration") or 0)
    answered = datetime.strptime(str(old["answerTime"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(0, round((now - answered).total_seconds()))
    message = "answered; the end was not reported (duration until the room was found gone)"
    return {
        **old,
        "phase": "Completed",
        "result": "answered",
        "endTime": rfc3339(now),
        "durationSeconds": seconds,
        "duration": format_duration(seconds),
        "conditions": _ready(old, True, reasons.CALL_COMPLETED, message, gen, now),
    }
