"""Calls that LiveKit left without an agent while every worker was busy: dispatch them again.

livekit-server tries a dispatch once. When no worker of the agent has a free slot it logs
"no worker available" (or "failed to send job request") and never retries (v1.13.5,
pkg/agent/client.go), so the caller waits in a room that no agent will join. The operator
knows when that can have happened (a fleet with no free slot) and when it can be repaired
(a free slot again), and sweeps the rooms then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from livekit import api

from switchboard.livekit.client import LiveKitClient
from switchboard.livekit.errors import LiveKitError

log = logging.getLogger(__name__)

# A younger dispatch may still be on its way to a worker (workers answer in milliseconds;
# livekit-server gives up after 10 s, and a dropped one fails at once).
GRACE_S = 5.0
# Sweep again after these pauses while the last sweep had to re-dispatch: right after a
# worker frees a slot, livekit-server may still see it as full and drop the retry too.
RESWEEP_S = (6.0, 12.0, 24.0)
AGENT = api.ParticipantInfo.Kind.AGENT
CALLERS = frozenset({api.ParticipantInfo.Kind.STANDARD, api.ParticipantInfo.Kind.SIP})


@dataclass(frozen=True)
class Dispatch:
    id: str
    agent_name: str
    metadata: str
    created_s: float  # unix seconds


def caller_without_agent(kinds: Sequence[int]) -> bool:
    """Participant kinds of a room: someone is there to talk to, and no agent is."""
    return AGENT not in kinds and any(k in CALLERS for k in kinds)


def orphaned(
    kinds: Sequence[int], dispatches: Sequence[Dispatch], agent_name: str, now: float
) -> Dispatch | None:
    """Our dispatch to replace when a caller waits with no agent in the room, else None."""
    if not caller_without_agent(kinds):
        return None
    ours = [d for d in dispatches if d.agent_name == agent_name]
    if not ours:
        return None  # another agent's room
    newest = max(ours, key=lambda d: d.created_s)
    return newest if now - newest.created_s >= GRACE_S else None


def _dispatch(d: api.AgentDispatch) -> Dispatch:
    return Dispatch(d.id, d.agent_name, d.metadata, d.state.created_at / 1e9)


async def sweep(lk: LiveKitClient, agent_name: str, now: float) -> list[str]:
    """Re-dispatch `agent_name` to every room where its dispatch was dropped; those rooms."""
    fixed: list[str] = []
    for room in await lk.list_rooms():
        kinds = [p.kind for p in await lk.list_participants(room.name)]
        if not caller_without_agent(kinds):
            continue  # most rooms have their agent: skip listing their dispatches
        dispatches = [_dispatch(d) for d in await lk.list_dispatches(room.name)]
        dropped = orphaned(kinds, dispatches, agent_name, now)
        if dropped is None:
            continue
        # Replace, not add: should the old one ever be assigned, the call must not get two.
        await lk.delete_dispatch(room.name, dropped.id)
        await lk.create_dispatch(room.name, agent_name, dropped.metadata)
        fixed.append(room.name)
    return fixed


async def repair(lk: LiveKitClient, agent_name: str) -> int:
    """Sweep now, and again a few times while sweeps still find dropped calls."""
    total = 0
    for pause in (0.0, *RESWEEP_S):
        await asyncio.sleep(pause)
        try:
            fixed = await sweep(lk, agent_name, time.time())
        except LiveKitError as err:
            log.warning("re-dispatch sweep for %s failed: %s", agent_name, err)
            continue
        if not fixed:
            break
        total += len(fixed)
        log.info("re-dispatched %s to %d room(s) it had been dropped from", agent_name, len(fixed))
    return total
