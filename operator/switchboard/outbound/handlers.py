"""Kopf handlers for OutboundCall: a tick that records intent then dispatches, and hang-up."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError
from switchboard_contract.outbound import CallRef

from switchboard import kube, reasons
from switchboard.api import GROUP, VERSION
from switchboard.api.common import LiveKitRef, LocalObjectRef
from switchboard.api.outbound import IN_FLIGHT, TERMINAL, OutboundCallSpec
from switchboard.kube.calls import swap_status
from switchboard.livekit.client import LiveKitClient
from switchboard.livekit.errors import LiveKitError, LiveKitNotConfiguredError
from switchboard.outbound import builders
from switchboard.outbound.caps import Slots
from switchboard.outbound.index import (
    NO_AGENTS,
    NO_IN_FLIGHT,
    NO_OUT_TRUNKS,
    AgentIndex,
    InFlightIndex,
    OutTrunkIndex,
)
from switchboard.outcomes import Failure
from switchboard.state import OperatorState
from switchboard.voiceagent import redispatch

log = logging.getLogger(__name__)

PLURAL = "outboundcalls"
RESOURCE = (GROUP, VERSION, PLURAL)
TICK_S = 0.5  # how soon a freed slot or a new call is noticed (idle ticks cost no API call)
# A dialled call whose room is gone ended without its last report reaching us (the worker
# retries it for a minute): checked after this age, every few seconds, one room by name.
ROOM_CHECK_AFTER_S, ROOM_CHECK_EVERY_S = 30.0, 5
# A dispatch no agent took within the grace was dropped (workers take one in milliseconds;
# a wrong guess only costs a job that will lose the claim): checked this often.
REDISPATCH_GRACE_S, REDISPATCH_EVERY_S = 3.0, 2
# Longer than a job keeps claiming (agent CLAIM_DEADLINE_S = 60 s).
ROOM_HOLD_S = 120


def _live(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in TERMINAL


async def _livekit(state: OperatorState, namespace: str, secret: str | None) -> LiveKitClient:
    ref = LiveKitRef(secret_ref=LocalObjectRef(name=secret)) if secret else None
    return await state.livekit_for(namespace, ref)


def _one(index: Any, key: Any) -> Any:
    found = list(index.get(key, ()))
    return found[0] if found else None


@kopf.timer(*RESOURCE, interval=TICK_S, when=_live)
async def outbound_tick(
    *,
    body: kopf.Body,
    memo: kopf.Memo,
    outbound_agents: AgentIndex = NO_AGENTS,
    outbound_trunks: OutTrunkIndex = NO_OUT_TRUNKS,
    outbound_in_flight: InFlightIndex = NO_IN_FLIGHT,
    **_: Any,
) -> None:
    """Advance one call: Pending -> Dialing (cap permitting), ensure its dispatch, or time out.

    Every phase change is a compare-and-swap on the stored phase, so a stale body (the watch
    lags our own writes) or a second operator can never start a call twice."""
    state: OperatorState = memo.state
    slots: Slots = memo.slots
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    gen = int(meta.get("generation") or 0)
    old = dict(body.get("status") or {})
    phase = old.get("phase")
    now = datetime.now(UTC)
    try:
        spec = OutboundCallSpec.model_validate(dict(body["spec"]))
    except ValidationError as err:
        why = reasons.invalid_spec(err)
        failed = builders.pending_status(
            old, gen=gen, now=now, why=Failure(why.reason, why.message, None), to="", agent=""
        )
        if phase in (None, "Pending"):
            await swap_status(PLURAL, ns, name, uid, phase, failed, meta.get("resourceVersion"))
        return
    async with state.locks[uid]:
        if phase in (None, "Pending"):
            indexes = (outbound_agents, outbound_trunks, outbound_in_flight)
            await _start(state, slots, body, spec, old, now, *indexes)
        elif phase == "Dialing":
            # not dialled yet: re-dispatch if LiveKit dropped it
            if not int(now.timestamp()) % REDISPATCH_EVERY_S:
                await _ensure_dispatch(state, body, spec, old, outbound_agents, outbound_trunks)
        elif phase in IN_FLIGHT:
            await _expire(state, slots, body, spec, old, now, outbound_agents)


async def _start(
    state: OperatorState,
    slots: Slots,
    body: kopf.Body,
    spec: OutboundCallSpec,
    old: dict[str, Any],
    now: datetime,
    agents: AgentIndex,
    trunks: OutTrunkIndex,
    in_flight: InFlightIndex,
) -> None:
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    gen = int(meta.get("generation") or 0)
    agent = spec.voice_agent_ref.name
    found = builders.resolve(
        ns, spec, _one(agents, (ns, agent)), _one(trunks, (ns, spec.trunk_ref.name))
    )
    if isinstance(found, Failure):
        pending = builders.pending_status(old, gen=gen, now=now, why=found, to=spec.to, agent=agent)
        await _wait(body, old, pending)
        return
    async with slots.lock(ns):
        holders = slots.holders(ns, in_flight.get(ns, ()))
        cap = state.config.outbound_cap(ns)
        if uid not in holders and len(holders) >= cap:
            full = Failure(
                reasons.WAITING_FOR_CAPACITY,
                f"namespace {ns!r} is at its cap of {cap} outbound calls in flight",
                builders.WAIT_REF_S,
            )
            pending = builders.pending_status(
                old, gen=gen, now=now, why=full, to=spec.to, agent=agent
            )
            await _wait(body, old, pending)
            return
        base = builders.pending_status(
            old,
            gen=gen,
            now=now,
            why=Failure(reasons.DISPATCHED, "", 0.0),
            to=spec.to,
            agent=agent,
        )
        intent = builders.intent_status(base, gen=gen, now=now, room=builders.room_name(uid))
        # The intent is stored before anything can dial: after a crash, Dialing without a
        # dialTime means "never dialled" (the worker dials only after claiming it here).
        rv = meta.get("resourceVersion")
        if not await swap_status(PLURAL, ns, name, uid, old.get("phase"), intent, rv):
            return  # someone moved it first; the next tick sees what they did
        slots.take(ns, uid)
    kopf.info(body, reason=reasons.DISPATCHED, message=f"Calling {builders.mask_number(spec.to)}")
    await _dispatch(state, body, spec, intent, found)


async def _wait(body: kopf.Body, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Store a Pending/Failed status if it says something new; an event when the reason does."""
    meta = body["metadata"]
    was, now_ = (builders.condition_of(s) for s in (old, new))
    if was == now_ and old.get("phase") == new.get("phase"):
        return
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    rv = meta.get("resourceVersion")
    stored = await swap_status(PLURAL, ns, name, uid, old.get("phase"), new, rv)
    if stored and now_ is not None and (was is None or was[0] != now_[0]):
        kopf.warn(body, reason=now_[0], message=now_[1])


async def _ensure_dispatch(
    state: OperatorState,
    body: kopf.Body,
    spec: OutboundCallSpec,
    old: dict[str, Any],
    agents: AgentIndex,
    trunks: OutTrunkIndex,
) -> None:
    """Dialing after a restart (or a lost room): dispatch again unless a dispatch exists.

    Safe: nothing dials until a job's claim moves the phase to Ringing, and only one claim
    can (see outbound.reports)."""
    meta = body["metadata"]
    ns = meta["namespace"]
    found = builders.resolve(
        ns,
        spec,
        _one(agents, (ns, spec.voice_agent_ref.name)),
        _one(trunks, (ns, spec.trunk_ref.name)),
    )
    if isinstance(found, Failure):
        return  # it resolved when the intent was recorded; wait for it to come back
    await _dispatch(state, body, spec, old, found)


async def _dispatch(
    state: OperatorState,
    body: kopf.Body,
    spec: OutboundCallSpec,
    status: dict[str, Any],
    found: builders.Resolved,
) -> None:
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    room = str(status.get("room") or builders.room_name(uid))
    try:
        lk = await _livekit(state, ns, found.livekit_secret)
        # ListDispatch on a room that does not exist fails after a server timeout
        # ("no response from servers"); no room means no dispatch
        if await lk.room_exists(room) and not await _dropped(lk, room, found.agent_name):
            return
        metadata = builders.dial_metadata(CallRef(namespace=ns, name=name, uid=uid), spec, found)
        # A room of the dispatch's own making closes ~20 s after only the agent is in it, and
        # a job still claiming (the operator restarting) would lose it with its claim.
        await lk.create_room(room, ROOM_HOLD_S)
        await lk.create_dispatch(room, found.agent_name, metadata)
    except (LiveKitError, LiveKitNotConfiguredError, kube.MissingSecretError) as err:
        # The intent stays recorded; the next tick tries again.
        raise kopf.TemporaryError(f"dispatch failed: {type(err).__name__}", delay=2) from None


async def _dropped(lk: LiveKitClient, room: str, agent_name: str) -> bool:
    """True when the room needs a new dispatch: none of ours, or ours is older than the grace
    and no agent joined (livekit-server drops a dispatch while every worker is full and never
    retries it; see voiceagent.redispatch). The stale one is deleted first, so a late job
    cannot join it; and even if one did, only one job's claim can win."""
    ours = [d for d in await lk.list_dispatches(room) if d.agent_name == agent_name]
    if not ours:
        return True
    newest = max(ours, key=lambda d: d.state.created_at)
    if time.time() - newest.state.created_at / 1e9 < REDISPATCH_GRACE_S:
        return False
    kinds = [p.kind for p in await lk.list_participants(room)]
    if redispatch.AGENT in kinds:
        return False  # a job has it and is claiming it (or the claim is on its way)
    await lk.delete_dispatch(room, newest.id)
    return True


async def _expire(
    state: OperatorState,
    slots: Slots,
    body: kopf.Body,
    spec: OutboundCallSpec,
    old: dict[str, Any],
    now: datetime,
    agents: AgentIndex,
) -> None:
    """A dialled call whose outcome never arrived is ended, never dialled again: at once
    when its room is gone (the job left; its last report was lost), else after a deadline."""
    dialled = old.get("dialTime") or old.get("startTime")
    if not dialled:
        return
    started = datetime.strptime(str(dialled), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    age = (now - started).total_seconds()
    meta = body["metadata"]
    ns = meta["namespace"]
    if age < builders.lost_after_s(spec):
        if age < ROOM_CHECK_AFTER_S or int(now.timestamp()) % ROOM_CHECK_EVERY_S:
            return
        agent = _one(agents, (ns, spec.voice_agent_ref.name))
        try:
            lk = await _livekit(state, ns, agent.livekit_secret if agent else None)
            if await lk.room_exists(str(old.get("room"))):
                return
        except (LiveKitError, LiveKitNotConfiguredError, kube.MissingSecretError):
            return  # cannot tell; the deadline still ends it
        new = builders.room_gone_status(old, now=now)
    else:
        message = "no outcome from the worker in time; the call is not redialled"
        new = builders.ended_status(old, now=now, reason=reasons.WORKER_LOST, message=message)
    if await swap_status(PLURAL, ns, meta["name"], meta["uid"], old["phase"], new):
        slots.release(ns, meta["uid"])
        why = builders.condition_of(new) or ("", "")
        kopf.event(body, type="Normal" if new["phase"] == "Completed" else "Warning",
                   reason=why[0], message=why[1])  # fmt: skip


@kopf.on.delete(*RESOURCE)
async def outbound_delete(
    *, body: kopf.Body, memo: kopf.Memo, outbound_agents: AgentIndex = NO_AGENTS, **_: Any
) -> None:
    """Deleting a call in flight hangs it up: first end it (so no claim can start it), then
    delete its room (LiveKit hangs up the SIP participant)."""
    state: OperatorState = memo.state
    slots: Slots = memo.slots
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    old = dict(body.get("status") or {})
    phase = old.get("phase")
    if phase not in IN_FLIGHT:
        return
    now = datetime.now(UTC)
    new = builders.ended_status(old, now=now, reason=reasons.HUNG_UP, message="deleted in flight")
    await swap_status(PLURAL, ns, name, uid, phase, new)
    slots.release(ns, uid)
    agent = _one(outbound_agents, (ns, (body["spec"].get("voiceAgentRef") or {}).get("name")))
    try:
        lk = await _livekit(state, ns, agent.livekit_secret if agent else None)
        await lk.delete_room(str(old.get("room") or builders.room_name(uid)))
    except (LiveKitError, LiveKitNotConfiguredError, kube.MissingSecretError) as err:
        raise kopf.TemporaryError(f"hang-up failed: {type(err).__name__}", delay=2) from None
