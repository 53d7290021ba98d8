"""One SipTrunk reconcile pass: resolve credentials, ensure each LiveKit trunk, compute status.

Kopf-free so it can be driven by handlers, timers and tests alike; the handler maps the
Result onto status, events and retry delays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from livekit import api

from switchboard import outcomes, reasons
from switchboard.api.siptrunk import SipAuthSecretRef, SipTrunk
from switchboard.conditions import is_true, rfc3339, set_condition
from switchboard.kube import MissingSecretError
from switchboard.livekit.client import LiveKitClient
from switchboard.livekit.ensure import M, ObjectOps, ensure, remove
from switchboard.livekit.errors import LiveKitRejected, LiveKitUnavailable
from switchboard.names import Owner
from switchboard.outcomes import Event, Failure
from switchboard.siptrunk.builders import (
    INBOUND,
    INBOUND_FIELDS,
    OUTBOUND,
    OUTBOUND_FIELDS,
    Credentials,
    inbound_trunk,
    outbound_trunk,
)

SecretReader = Callable[[str, str, str, str], Awaitable[list[str]]]

READY, SYNCED = "Ready", "Synced"  # condition types


# The pass's value is the status to store.
Result = outcomes.Result[dict[str, Any]]


def inbound_ops(lk: LiveKitClient) -> ObjectOps[api.SIPInboundTrunkInfo]:
    return ObjectOps(
        role=INBOUND,
        fields=INBOUND_FIELDS,
        id_of=lambda t: t.sip_trunk_id,
        find=lk.list_inbound_trunks,
        create=lk.create_inbound_trunk,
        update=lk.update_inbound_trunk,
        delete=lk.delete_trunk,
    )


def outbound_ops(lk: LiveKitClient) -> ObjectOps[api.SIPOutboundTrunkInfo]:
    return ObjectOps(
        role=OUTBOUND,
        fields=OUTBOUND_FIELDS,
        id_of=lambda t: t.sip_trunk_id,
        find=lk.list_outbound_trunks,
        create=lk.create_outbound_trunk,
        update=lk.update_outbound_trunk,
        delete=lk.delete_trunk,
    )


async def _credentials(
    read: SecretReader, namespace: str, ref: SipAuthSecretRef | None
) -> Credentials | None:
    if ref is None:
        return None
    username, password = await read(namespace, ref.name, ref.username_key, ref.password_key)
    return Credentials(username, password)


async def _describe_conflict(lk: LiveKitClient, err: LiveKitRejected, owner: Owner) -> str:
    """LiveKit's message, plus which SipTrunk holds the other trunk when it is one of ours."""
    others = err.conflicting_trunk_ids
    trunks: list[api.SIPInboundTrunkInfo | api.SIPOutboundTrunkInfo] = []
    if others:
        trunks = [*await lk.list_inbound_trunks(others), *await lk.list_outbound_trunks(others)]
    return reasons.conflict_message("trunk", err, owner, (t.metadata for t in trunks))


async def _sync(
    ops: ObjectOps[M], owner: Owner, desired: M | None, known_id: str | None
) -> tuple[str | None, list[Event]]:
    """Ensure (or, when the direction left the spec, remove) one trunk; its ID and events."""
    if desired is None:
        removed = await remove(ops, owner)
        what = f"LiveKit {ops.role} trunk"
        return None, [Event("Normal", reasons.DELETED, f"Deleted {what} {i}") for i in removed]
    outcome = await ensure(ops, owner, desired, known_id)
    return outcome.object_id, reasons.outcome_events(f"LiveKit {ops.role} trunk", outcome)


async def reconcile(
    trunk: SipTrunk,
    *,
    owner: Owner,
    generation: int,
    lk: LiveKitClient,
    read_secret: SecretReader,
    now: datetime,
    retry: int = 0,
) -> Result:
    spec = trunk.spec
    old = trunk.status.to_wire() if trunk.status else {}
    status = dict(old)
    conditions: list[dict[str, Any]] = list(old.get("conditions", []))
    events: list[Event] = []

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, ok, reason, message, generation=generation, now=now
        )

    def finish(failure: Failure | None = None) -> Result:
        status["conditions"] = conditions
        status["observedGeneration"] = generation
        return Result(status, events, failure)

    try:
        inbound_auth = await _credentials(
            read_secret, owner.namespace, spec.inbound.auth_secret_ref if spec.inbound else None
        )
        outbound_auth = await _credentials(
            read_secret, owner.namespace, spec.outbound.auth_secret_ref if spec.outbound else None
        )
    except MissingSecretError as err:
        why = reasons.config_failure(err)
        cond(READY, False, why.reason, why.message)
        events.append(Event("Warning", why.reason, why.message))
        return finish(why)

    inbound = inbound_trunk(owner, spec.inbound, inbound_auth) if spec.inbound else None
    outbound = outbound_trunk(owner, spec.outbound, outbound_auth) if spec.outbound else None
    try:
        in_id, in_events = await _sync(inbound_ops(lk), owner, inbound, old.get("inboundTrunkID"))
        out_id, out_events = await _sync(
            outbound_ops(lk), owner, outbound, old.get("outboundTrunkID")
        )
    except LiveKitUnavailable as err:
        why = reasons.livekit_failure(err, retry)
        cond(SYNCED, False, why.reason, why.message)
        return finish(why)
    except LiveKitRejected as err:
        why = reasons.livekit_failure(err, retry, await _describe_conflict(lk, err, owner))
        cond(SYNCED, False, why.reason, why.message)
        cond(READY, False, why.reason, why.message)
        events.append(Event("Warning", why.reason, why.message))
        return finish(why)

    for key, value in (("inboundTrunkID", in_id), ("outboundTrunkID", out_id)):
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    new_events = [*in_events, *out_events]
    events.extend(new_events)
    changed = bool(new_events)
    was_synced = is_true(old.get("conditions", []), SYNCED)
    if changed or not was_synced or "lastSyncTime" not in status:
        status["lastSyncTime"] = rfc3339(now)
    cond(SYNCED, True, reasons.SYNCED, "LiveKit matches the spec")
    directions = [d for d, s in ((INBOUND, spec.inbound), (OUTBOUND, spec.outbound)) if s]
    cond(READY, True, reasons.TRUNKS_READY, f"LiveKit {' and '.join(directions)} trunk ready")
    return finish()
