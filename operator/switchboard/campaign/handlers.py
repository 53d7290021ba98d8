"""Kopf handlers for CallCampaign: a tick that materialises its calls as their turn comes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from switchboard import kube, reasons
from switchboard.api import GROUP, VERSION
from switchboard.api.campaign import CallCampaignSpec
from switchboard.api.outbound import OutboundCallSpec
from switchboard.campaign import targets
from switchboard.campaign.plan import ATTEMPT_LABEL, ROW_LABEL, Child, child_manifest, plan
from switchboard.conditions import condition, rfc3339, set_condition, status_patch
from switchboard.outbound import builders
from switchboard.outbound.index import NO_AGENTS, NO_OUT_TRUNKS, AgentIndex, OutTrunkIndex
from switchboard.outcomes import Failure

log = logging.getLogger(__name__)

PLURAL = "callcampaigns"
RESOURCE = (GROUP, VERSION, PLURAL)
TICK_S = 0.5  # a finished call is replaced within this (a tick with nothing new writes nothing)
CSV_REREAD_S = 30.0  # a ConfigMap edit reaches a running campaign within this
MAX_ROW_EVENTS = 20  # per tick; the TargetsValid condition counts them all
READY, TARGETS_VALID, COMPLETED = "Ready", "TargetsValid", "Completed"
ChildIndex = Mapping[tuple[str, str], Collection[Child]]
NO_CHILDREN: ChildIndex = MappingProxyType({})


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@kopf.index(GROUP, VERSION, "outboundcalls")
def campaign_children(
    *, namespace: str | None, meta: kopf.Meta, labels: kopf.Labels, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], Child]:
    """(namespace, campaign UID) -> each of its calls: row, attempt, phase, result."""
    owner = next(
        (r for r in meta.get("ownerReferences") or [] if r.get("kind") == "CallCampaign"), None
    )
    if namespace is None or owner is None:
        return {}
    try:
        row, attempt = int(labels[ROW_LABEL]), int(labels[ATTEMPT_LABEL])
    except (KeyError, ValueError):
        return {}
    child = Child(
        row, attempt, status.get("phase"), status.get("result"), _time(status.get("endTime"))
    )
    return {(namespace, owner["uid"]): child}


@dataclass
class CampaignMemory:
    """Per campaign, in memory only: the parsed targets and the pace (both rebuilt on start)."""

    rows: list[targets.Row | targets.BadRow]
    key: tuple[int, str | None]
    read_at: float
    last_start: float = 0.0
    # (row, attempt) created by this process that the index has not listed yet: they count
    # as in flight, or a lagging watch would let the campaign exceed maxConcurrentCalls
    created: set[tuple[int, int]] = field(default_factory=set)


def _finished(status: kopf.Status, meta: kopf.Meta, **_: Any) -> bool:
    done = condition(list(status.get("conditions") or []), COMPLETED)
    return bool(
        done
        and done.get("status") == "True"
        and done.get("observedGeneration") == meta.get("generation")
    )


def _active(status: kopf.Status, meta: kopf.Meta, **kwargs: Any) -> bool:
    return not _finished(status, meta, **kwargs)


async def _rows(
    memo: kopf.Memo, uid: str, ns: str, gen: int, spec: CallCampaignSpec
) -> list[targets.Row | targets.BadRow]:
    cache: dict[str, CampaignMemory] = memo.campaigns
    source = spec.targets_from
    key = (gen, source.config_map_ref.name if source else None)
    got = cache.get(uid)
    fresh = source is None or (got is not None and time.monotonic() - got.read_at < CSV_REREAD_S)
    if got is not None and got.key == key and fresh:
        return got.rows
    text = None
    if source is not None:
        text = await kube.read_config_map_key(ns, source.config_map_ref.name, source.key)
    rows = targets.all_rows(spec, text)
    cache[uid] = CampaignMemory(rows, key, time.monotonic())
    if got is not None:
        cache[uid].last_start, cache[uid].created = got.last_start, got.created
    return rows


def _ref_failure(
    ns: str, spec: CallCampaignSpec, agents: AgentIndex, trunks: OutTrunkIndex
) -> Failure | None:
    # the campaign-wide references, checked as one call of it would be
    probe = OutboundCallSpec.model_validate(
        {"voiceAgentRef": spec.voice_agent_ref.to_wire(), "to": "+10000000000",
         "trunkRef": spec.trunk_ref.to_wire(), **({"from": spec.from_} if spec.from_ else {})}
    )  # fmt: skip
    agent = next(iter(agents.get((ns, spec.voice_agent_ref.name), ())), None)
    trunk = next(iter(trunks.get((ns, spec.trunk_ref.name), ())), None)
    found = builders.resolve(ns, probe, agent, trunk)
    return found if isinstance(found, Failure) else None


async def _create(manifest: dict[str, Any]) -> None:
    def create() -> Any:
        return client.CustomObjectsApi().create_namespaced_custom_object(
            GROUP, VERSION, manifest["metadata"]["namespace"], "outboundcalls", manifest
        )

    try:
        await asyncio.to_thread(create)
    except ApiException as err:
        if err.status != 409:  # 409: created before a restart; the record of the intent
            raise


@kopf.timer(*RESOURCE, interval=TICK_S, when=_active)
async def campaign_tick(
    *,
    body: kopf.Body,
    memo: kopf.Memo,
    campaign_children: ChildIndex = NO_CHILDREN,
    outbound_agents: AgentIndex = NO_AGENTS,
    outbound_trunks: OutTrunkIndex = NO_OUT_TRUNKS,
    **_: Any,
) -> None:
    """Check the campaign can run; then create the calls whose turn has come."""
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    gen = int(meta.get("generation") or 0)
    old = dict(body.get("status") or {})
    conds = list(old.get("conditions") or [])
    now = datetime.now(UTC)

    async def refuse(why: Failure, warn: bool = False) -> None:
        was = condition(conds, READY)
        if warn and (was is None or was.get("reason") != why.reason):
            kopf.warn(body, reason=why.reason, message=why.message)
        new = set_condition(conds, READY, False, why.reason, why.message, generation=gen, now=now)
        await _store(ns, name, old, {**old, "observedGeneration": gen, "conditions": new})

    try:
        spec = CallCampaignSpec.model_validate(dict(body["spec"]))
    except ValidationError as err:
        await refuse(reasons.invalid_spec(err))
        return
    tz = targets.zone(spec.time_zone)
    if tz is None:
        bad_zone = f"spec.timeZone: {spec.time_zone[:64]!r} is not an IANA time zone"
        await refuse(Failure(reasons.INVALID_SPEC, bad_zone, None))
        return
    refused = _ref_failure(ns, spec, outbound_agents, outbound_trunks)
    if refused is not None:
        await refuse(refused, warn=True)
        return
    try:
        rows = await _rows(memo, uid, ns, gen, spec)
    except kube.MissingConfigMapError as err:
        await refuse(Failure(reasons.CONFIG_MAP_NOT_FOUND, str(err), None), warn=True)
        return
    children = list(campaign_children.get((ns, uid), ()))
    await _run(body, memo.campaigns[uid], spec, rows, children, tz, now)


async def _store(ns: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = status_patch(old, new)
    if patch:
        await kube.patch_status(PLURAL, ns, name, patch)


async def _run(
    body: kopf.Body,
    mem: CampaignMemory,
    spec: CallCampaignSpec,
    rows: list[targets.Row | targets.BadRow],
    children: list[Child],
    tz: ZoneInfo,
    now: datetime,
) -> None:
    meta = body["metadata"]
    gen = int(meta.get("generation") or 0)
    old = dict(body.get("status") or {})
    # the pace: one call per 1/callsPerSecond, or that many per tick when faster
    due = time.monotonic() - mem.last_start >= 1 / spec.calls_per_second
    budget = max(1, int(spec.calls_per_second * TICK_S)) if due else 0
    mem.created -= {(c.row, c.attempt) for c in children}
    children = children + [Child(r, a, None, None, None) for r, a in mem.created]
    cursor = int(old.get("cursor") or 0)
    step = plan(spec, rows, children, tz=tz, now=now, cursor=cursor, budget=budget)
    for row, attempt in step.create:
        await _create(child_manifest(dict(body), spec, row, attempt))
        mem.created.add((row.index, attempt))
    if step.create:
        mem.last_start = time.monotonic()
    for bad in step.newly_bad[:MAX_ROW_EVENTS]:
        kopf.warn(body, reason=reasons.INVALID_TARGET, message=f"row {bad.index}: {bad.why}")
    invalid = step.counts.get("invalid", 0)
    refused_rows = f"{invalid} of {len(rows)} targets refused (see events)" if invalid else ""
    valid_reason = reasons.INVALID_TARGET if invalid else "AllValid"
    conds = list(old.get("conditions") or [])
    conds = set_condition(
        conds, TARGETS_VALID, invalid == 0, valid_reason, refused_rows, generation=gen, now=now
    )
    state = "suspended" if spec.suspend else ("calling" if step.window_open else "window closed")
    conds = set_condition(conds, READY, True, "Running", state, generation=gen, now=now)
    done_reason = "AllTargetsDone" if step.done else "InProgress"
    left = f"{step.remaining} targets remaining"
    conds = set_condition(conds, COMPLETED, step.done, done_reason, left, generation=gen, now=now)
    counts = {("noAnswer" if k == "no-answer" else k): v for k, v in step.counts.items()}
    opens = step.next_window if not step.window_open else None
    new = {
        **old,
        "observedGeneration": gen,
        "conditions": conds,
        "total": len(rows),
        "counts": counts,
        "inFlight": step.in_flight + len(step.create),
        "remaining": step.remaining,
        "cursor": step.cursor,
        "nextWindow": rfc3339(opens) if opens else None,
    }
    await _store(meta["namespace"], meta["name"], old, new)
