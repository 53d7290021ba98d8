"""Apply scaling decisions: Deployment replicas, pod-deletion-cost, VoiceAgent status, events.

Called on every worker report, worker pod change and spec sync; it is the only writer of
VoiceAgent status, so concurrent triggers cannot clobber each other's conditions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from switchboard import kube, reasons
from switchboard.conditions import set_condition, status_patch
from switchboard.names import POD_DELETION_COST, worker_name
from switchboard.outcomes import Event
from switchboard.scaling import Decision, decide
from switchboard.voiceagent import redispatch
from switchboard.voiceagent.fleet import AgentFleet

log = logging.getLogger(__name__)
PLURAL = "voiceagents"
READY, LIVEKIT_SYNCED, WORKERS_READY = "Ready", "LiveKitSynced", "WorkersReady"


class DecisionClock:
    """Report-received -> replicas-patched latencies, for the benchmark and the probe."""

    def __init__(self, size: int = 2048, observe: Callable[[float], None] | None = None) -> None:
        self.samples: deque[float] = deque(maxlen=size)
        self._observe = observe  # e.g. a Prometheus histogram, which keeps the full history

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        if self._observe is not None:
            self._observe(seconds)


def compose_status(fleet: AgentFleet, decision: Decision, now: datetime) -> dict[str, Any]:
    """The VoiceAgent status from the spec handler's part plus the scaler's counts."""
    status = dict(fleet.spec_status)
    conditions: list[dict[str, Any]] = list(status.pop("conditions", []))
    gen = fleet.generation
    ready_workers = decision.ready
    if decision.desired == 0 or ready_workers > 0:
        conditions = set_condition(conditions, WORKERS_READY, True, reasons.WORKERS_AVAILABLE,
                                   f"{ready_workers} ready, {decision.idle} idle",
                                   generation=gen, now=now)  # fmt: skip
    else:
        conditions = set_condition(conditions, WORKERS_READY, False, reasons.NO_READY_WORKERS,
                                   f"0 of {decision.desired} workers ready",
                                   generation=gen, now=now)  # fmt: skip
    synced = next((c for c in conditions if c["type"] == LIVEKIT_SYNCED), None)
    workers_ok = next(c for c in conditions if c["type"] == WORKERS_READY)["status"] == "True"
    if synced is not None and synced["status"] == "True" and workers_ok:
        conditions = set_condition(conditions, READY, True, reasons.READY, "taking calls",
                                   generation=gen, now=now)  # fmt: skip
    else:
        why = synced if synced is not None and synced["status"] != "True" else None
        reason = why["reason"] if why else reasons.NO_READY_WORKERS
        message = why["message"] if why else "no ready worker yet"
        conditions = set_condition(conditions, READY, False, reason, message,
                                   generation=gen, now=now)  # fmt: skip
    status.update(
        conditions=conditions,
        observedGeneration=gen,
        activeCalls=decision.active_calls,
        workers={"desired": decision.desired, "ready": decision.ready,
                 "idle": decision.idle, "busy": decision.busy},
    )  # fmt: skip
    return status


async def rescale(
    fleet: AgentFleet, clock: DecisionClock | None = None, since: float | None = None
) -> Decision | None:
    """Decide and apply for one VoiceAgent; `since` is when the triggering signal arrived."""
    if fleet.params is None:
        return None  # the spec handler has not run yet
    if not fleet.owned:
        return None  # a paused peering standby: its view is stale and the active replica acts
    namespace, name = fleet.key
    async with fleet.lock:
        now = time.monotonic()
        current = fleet.replicas if fleet.replicas is not None else 0
        params = dataclasses.replace(fleet.params, pod_start_s=fleet.pod_start_estimate())
        decision = decide(fleet.workers(now), current, params, now, recent_starts=fleet.starts)
        settling = fleet.settling(now)
        if settling is not None and decision.desired < current:
            # Just (re)started: a pod that has not reported yet may well be busy.
            decision = dataclasses.replace(decision, desired=current, recheck_after_s=settling)
        events: list[Event] = []
        if fleet.replicas is not None and decision.desired != current:
            await kube.scale_deployment(namespace, worker_name(name), decision.desired)
            fleet.replicas = decision.desired
            verb = reasons.SCALED_UP if decision.desired > current else reasons.SCALED_DOWN
            events.append(Event("Normal", verb,
                                f"workers {current} -> {decision.desired} "
                                f"({decision.active_calls} active calls)"))  # fmt: skip
        if clock is not None and since is not None:
            clock.add(time.monotonic() - since)
        for pod, cost in decision.deletion_cost.items():
            info = fleet.pods.get(pod)
            if info is not None and not info.deleting and info.deletion_cost != str(cost):
                await kube.annotate_pod(namespace, pod, {POD_DELETION_COST: str(cost)})
        status = compose_status(fleet, decision, datetime.now(UTC))
        if status != fleet.last_status:
            await kube.patch_status(
                PLURAL, namespace, name, status_patch(fleet.last_status, status)
            )
            fleet.last_status = status
        _schedule_recheck(fleet, decision)
        repair_dropped_calls(fleet, decision)
    for event in events:
        # Not kopf.event: this also runs from the report endpoint, outside kopf's context.
        await kube.post_event(fleet.ref, event.type, event.reason, event.message)
    return decision


def repair_dropped_calls(fleet: AgentFleet, decision: Decision) -> None:
    """With no free slot LiveKit drops new calls' dispatches; once one frees, sweep for them."""
    if decision.idle == 0:
        fleet.may_have_dropped = True
        return
    if not fleet.may_have_dropped or fleet.repairing or fleet.livekit is None:
        return
    if not fleet.agent_name:
        return
    fleet.may_have_dropped, fleet.repairing = False, True
    task = asyncio.get_running_loop().create_task(
        redispatch.repair(fleet.livekit, fleet.agent_name)
    )
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
