"""The VoiceAgent status: what the last spec pass established, joined purely with the fleet.

The spec handler records a `SpecOutcome`; the scaler, the only writer of the status, passes
it with its `Decision` through `compose_status`. A condition changes in this module only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from switchboard import reasons
from switchboard.api.voiceagent import VoiceAgentStatus
from switchboard.conditions import Condition, set_condition
from switchboard.livekit.client import LiveKitClient
from switchboard.outcomes import Failure
from switchboard.scaling import Decision, ScalingParams
from switchboard.voiceagent.streams import StreamsOutcome

READY, LIVEKIT_SYNCED, WORKERS_READY = "Ready", "LiveKitSynced", "WorkersReady"
MEDIA_STREAMS_READY = "MediaStreamsReady"


@dataclass(frozen=True)
class SpecOutcome:
    """What one spec pass established: LiveKitSynced, and what the scaler needs next."""

    generation: int
    params: ScalingParams
    # LiveKitSynced: True with this reason and message, unless the pass failed (`failure`).
    reason: str
    message: str
    failure: Failure | None = None
    agent_name: str | None = None
    dispatch_rule_id: str | None = None
    # For re-dispatching calls LiveKit dropped (redispatch.py); None until LiveKit is known.
    livekit: LiveKitClient | None = None
    # MediaStreamsReady; None: not evaluated (the pass failed first), keep what is stored.
    streams: StreamsOutcome | None = None

    @property
    def synced(self) -> tuple[bool, str, str]:
        """LiveKitSynced as (status, reason, message)."""
        if self.failure is not None:
            return False, self.failure.reason, self.failure.message
        return True, self.reason, self.message


def warm_status(decision: Decision, params: ScalingParams) -> dict[str, object]:
    """status.warm: the pool the decision kept, and in predictive mode what sized it.

    The rate is rounded to two significant digits and the pod start to the second, so the
    status changes with the traffic, not with every report's decimals."""
    if params.predictive is None:
        return {"mode": "fixed", "target": decision.warm_target}
    return {
        "mode": "predictive",
        "target": decision.warm_target,
        "arrivalsPerMinute": f"{float(f'{decision.arrival_rate * 60:.2g}'):g}",
        "podStart": f"{round(params.pod_start_s)}s",
    }


def compose_status(
    spec: SpecOutcome,
    decision: Decision,
    previous: Sequence[Condition],
    now: datetime,
    params: ScalingParams | None = None,
    calls: dict[str, object] | None = None,
) -> VoiceAgentStatus:
    """The status for `spec` and `decision`; `previous` keeps unchanged transition times.

    `params` are the parameters the decision was made with (the spec's plus the measured pod
    start); they default to the spec's. `calls` are the rolling call figures (status.calls)."""
    gen = spec.generation

    def put(conds: list[Condition], type_: str, ok: bool, reason: str, msg: str) -> list[Condition]:
        return set_condition(conds, type_, ok, reason, msg, generation=gen, now=now)

    synced, why, detail = spec.synced
    conditions = put(list(previous), LIVEKIT_SYNCED, synced, why, detail)
    workers_ok = decision.desired == 0 or decision.ready > 0
    if workers_ok:
        workers = (reasons.WORKERS_AVAILABLE, f"{decision.ready} ready, {decision.idle} idle")
    else:
        workers = (reasons.NO_READY_WORKERS, f"0 of {decision.desired} workers ready")
    conditions = put(conditions, WORKERS_READY, workers_ok, *workers)
    streams = spec.streams
    if streams is not None and not streams.declared:
        conditions = [c for c in conditions if c.get("type") != MEDIA_STREAMS_READY]
    elif streams is not None:
        conditions = put(
            conditions, MEDIA_STREAMS_READY, streams.ok, streams.reason, streams.message
        )
    if not synced:
        ready = (False, why, detail)  # Ready carries the sync failure
    elif not workers_ok:
        ready = (False, reasons.NO_READY_WORKERS, "no ready worker yet")
    elif streams is not None and streams.declared and not streams.ok:
        ready = (False, streams.reason, streams.message)  # some calls would be refused
    else:
        ready = (True, reasons.READY, "taking calls")
    conditions = put(conditions, READY, *ready)
    order = {LIVEKIT_SYNCED: 0, WORKERS_READY: 1, MEDIA_STREAMS_READY: 2, READY: 3}
    conditions.sort(key=lambda c: order.get(c["type"], 4))
    media = None
    if streams is not None and streams.webhooks:
        media = {"webhooks": [{"provider": p, "url": u} for p, u in streams.webhooks]}
    return VoiceAgentStatus.model_validate(
        {
            "mediaStreams": media,
            "conditions": conditions,
            "observedGeneration": gen,
            "agentName": spec.agent_name,
            "dispatchRuleID": spec.dispatch_rule_id,
            "activeCalls": decision.active_calls,
            "workers": {
                "desired": decision.desired,
                "ready": decision.ready,
                "idle": decision.idle,
                "busy": decision.busy,
            },
            "warm": warm_status(decision, spec.params if params is None else params),
            "calls": calls,
        }
    )


def stored_conditions(status: dict[str, object] | None) -> list[Condition]:
    """The conditions of a stored status (as the API server returned it)."""
    found = (status or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
