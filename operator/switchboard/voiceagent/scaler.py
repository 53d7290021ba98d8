"""Apply scaling decisions: Deployment replicas, pod-deletion-cost, VoiceAgent status, events.

Called on every worker report, worker pod change and spec sync; it is the only writer of
VoiceAgent status, so concurrent triggers cannot clobber each other's conditions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from switchboard import kube, reasons
from switchboard.conditions import status_patch
from switchboard.metrics import DecisionClock
from switchboard.names import POD_DELETION_COST, worker_name
from switchboard.outcomes import Event
from switchboard.scaling import Decision, decide
from switchboard.voiceagent import redispatch
from switchboard.voiceagent.fleet import AgentFleet
from switchboard.voiceagent.status import SpecOutcome, compose_status, stored_conditions

log = logging.getLogger(__name__)
PLURAL = "voiceagents"
# Trigger times kept for the latency metric while a decision is queued; beyond this many the
# rest are not timed (memory never follows a flood).
MAX_WAITING = 1024


async def rescale(
    fleet: AgentFleet, clock: DecisionClock | None = None, since: float | None = None
) -> Decision | None:
    """Decide and apply for one VoiceAgent; `since` is when the triggering signal arrived.

    Triggers coalesce: while one decision runs, any number of triggers queue one more, which
    reads the fleet as it is then and so covers them all (a burst of N reports costs two
    rounds of writes, not N). A coalesced call returns None at once; its `since` is timed by
    the decision that covers it.
    """
    if fleet.spec is None:
        return None  # the spec handler has not run yet
    if not fleet.owned:
        return None  # a paused peering standby: its view is stale and the active replica acts
    if clock is not None and since is not None and len(fleet.waiting_since) < MAX_WAITING:
        fleet.waiting_since.append((clock, since))
    if fleet.rescale_queued:
        return None
    fleet.rescale_queued = True
    try:
        await fleet.lock.acquire()
    except asyncio.CancelledError:  # cancelled while queued: the next trigger queues instead
        fleet.rescale_queued = False
        raise
    try:
        fleet.rescale_queued = False
        waiting, fleet.waiting_since = fleet.waiting_since, []
        spec = fleet.spec
        if spec is None:
            return None
        decision, events = await _decide_and_apply(fleet, spec, waiting)
    finally:
        fleet.lock.release()
    for event in events:
        # Not kopf.event: this also runs from the report endpoint, outside kopf's context.
        await kube.post_event(fleet.ref, event.type, event.reason, event.message)
    return decision


async def _decide_and_apply(
    fleet: AgentFleet, spec: SpecOutcome, waiting: list[tuple[DecisionClock, float]]
) -> tuple[Decision, list[Event]]:
    """One decision, under the fleet's lock: replicas, deletion costs, status, recheck; the
    events to post once the lock is released."""
    namespace, name = fleet.key
    now = time.monotonic()
    current = fleet.replicas if fleet.replicas is not None else 0
    params = dataclasses.replace(spec.params, pod_start_s=fleet.pod_start_estimate())
    decision = decide(
        fleet.workers(now),
        current,
        params,
        now,
        recent_starts=fleet.starts,
        arrivals=fleet.arrivals,
        ends=fleet.ends,
    )
    settling = fleet.settling(now)
    if settling is not None and decision.desired < current:
        # Just (re)started: a pod that has not reported yet may well be busy.
        decision = dataclasses.replace(decision, desired=current, recheck_after_s=settling)
    events: list[Event] = []
    if fleet.replicas is not None and decision.desired != current:
        await kube.scale_deployment(namespace, worker_name(name), decision.desired)
        fleet.observe_replicas(decision.desired)
        verb = reasons.SCALED_UP if decision.desired > current else reasons.SCALED_DOWN
        events.append(
            Event(
                "Normal",
                verb,
                f"workers {current} -> {decision.desired} ({decision.active_calls} active calls)",
            )
        )
    for clock, at in waiting:  # each trigger this decision covers, from when it arrived
        clock.add(time.monotonic() - at)
    for pod, cost in decision.deletion_cost.items():
        info = fleet.pods.get(pod)
        if info is not None and not info.deleting and info.deletion_cost != str(cost):
            await kube.annotate_pod(namespace, pod, {POD_DELETION_COST: str(cost)})
    stored = fleet.last_status
    composed = compose_status(
        spec,
        decision,
        stored_conditions(stored),
        now=kube.utcnow(),
        params=params,
        calls=fleet.calls.aggregate(now),
    )
    status = composed.to_wire()
    if status != stored:
        await kube.patch_status(PLURAL, namespace, name, status_patch(stored, status))
        fleet.last_status = status
    _schedule_recheck(fleet, decision)
    repair_dropped_calls(fleet, decision)
    return decision, events


def repair_dropped_calls(fleet: AgentFleet, decision: Decision) -> None:
    """With no free slot LiveKit drops new calls' dispatches; once one frees, sweep for them."""
    if decision.idle == 0:
        fleet.may_have_dropped = True
        return
    spec = fleet.spec
    if spec is None or spec.livekit is None or not spec.agent_name:
        return
    if not fleet.may_have_dropped or fleet.repairing:
        return
    fleet.may_have_dropped, fleet.repairing = False, True
    task = asyncio.get_running_loop().create_task(redispatch.repair(spec.livekit, spec.agent_name))
    task.add_done_callback(lambda _: setattr(fleet, "repairing", False))
    fleet.track(task)


def _schedule_recheck(fleet: AgentFleet, decision: Decision) -> None:
    """A pending scale-down becomes eligible later: wake up then, not on a poll."""
    if fleet.recheck is not None:
        fleet.recheck.cancel()
        fleet.recheck = None
    if decision.recheck_after_s is not None:
        loop = asyncio.get_running_loop()
        fleet.recheck = loop.call_later(
            max(0.05, decision.recheck_after_s),
            lambda: fleet.track(loop.create_task(rescale(fleet))),
        )
