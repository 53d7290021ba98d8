"""A call LiveKit dropped while the only worker was busy gets its agent once a slot frees.

Real livekit-server and a real agent worker (callsPerWorker 1): the second caller's
dispatch is dropped by livekit-server, and the operator's sweep dispatches it again.
"""

from __future__ import annotations

import asyncio

import pytest
from livekit import api
from switchboard.api.voiceagent import Scaling
from switchboard.livekit.client import LiveKitClient
from switchboard.scaling import Decision, ScalingParams
from switchboard.voiceagent import redispatch
from switchboard.voiceagent.fleet import AgentFleet
from switchboard.voiceagent.redispatch import Dispatch
from switchboard.voiceagent.scaler import repair_dropped_calls
from switchboard.voiceagent.status import SpecOutcome

from devstack.livekit import LiveKitStack
from tests.support.agent_livekit import WorkerFactory, agent_in_room, dispatch, join, room_name
from tests.support.agent_worker import wait_for


async def _until(check: object, timeout: float, what: str) -> None:
    async def poll() -> None:
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


SIP, AGENT = api.ParticipantInfo.Kind.SIP, api.ParticipantInfo.Kind.AGENT


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kinds", "dispatches", "expected"),
    [
        ([SIP], [Dispatch("d1", "desk", "m", 0.0)], "d1"),  # a caller, our dispatch, no agent
        ([SIP, AGENT], [Dispatch("d1", "desk", "m", 0.0)], None),  # the agent is there
        ([], [Dispatch("d1", "desk", "m", 0.0)], None),  # nobody waits
        ([SIP], [Dispatch("d1", "other", "m", 0.0)], None),  # another agent's call
        ([SIP], [Dispatch("d1", "desk", "m", 98.0)], None),  # young: may still be assigning
        ([SIP], [Dispatch("d1", "desk", "", 0.0), Dispatch("d2", "desk", "", 50.0)], "d2"),
    ],
)
def test_orphaned(kinds: list[int], dispatches: list[Dispatch], expected: str | None) -> None:
    found = redispatch.orphaned(kinds, dispatches, "desk", now=100.0)
    assert (found.id if found else None) == expected


@pytest.mark.unit
async def test_a_free_slot_after_saturation_starts_one_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def repair(lk: object, agent_name: str) -> int:
        calls.append(agent_name)
        return 0

    monkeypatch.setattr(redispatch, "repair", repair)
    params = ScalingParams.from_spec(Scaling())
    spec = SpecOutcome(1, params, "Synced", "", agent_name="ns-desk", livekit=object())  # type: ignore[arg-type]
    fleet = AgentFleet(("ns", "desk"), spec=spec)
    repair_dropped_calls(fleet, Decision(desired=1, raw_desired=1, idle=1))
    assert not fleet.tasks  # never saturated: nothing to look for
    repair_dropped_calls(fleet, Decision(desired=2, raw_desired=2, idle=0, busy=1))
    assert fleet.may_have_dropped and not fleet.tasks
    repair_dropped_calls(fleet, Decision(desired=2, raw_desired=2, idle=1, busy=1))
    repair_dropped_calls(fleet, Decision(desired=2, raw_desired=2, idle=1, busy=1))
    await asyncio.gather(*fleet.tasks)
    assert calls == ["ns-desk"]  # once per saturation, not per decision
    assert not fleet.may_have_dropped and not fleet.repairing


@pytest.mark.livekit
async def test_a_dropped_call_is_dispatched_again_when_a_slot_frees(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
    livekit: LiveKitClient,
) -> None:
    worker = agent_worker(callsPerWorker=1)
    name = worker.config["agentName"]
    busy, waiting = room_name("busy"), room_name("waiting")
    await dispatch(lkapi, name, busy)
    first = await join(livekit_server, busy)
    await _until(lambda: agent_in_room(lkapi, busy), 60, "the agent in the first call")
    await dispatch(lkapi, name, waiting)
    second = await join(livekit_server, waiting, identity="caller-2")
    try:
        # livekit-server gives up on the second dispatch: the worker has no free slot.
        await asyncio.sleep(redispatch.GRACE_S)
        assert not await agent_in_room(lkapi, waiting)
        assert await redispatch.sweep(livekit, "someone-else", 1e12) == []

        await first.close()
        await asyncio.to_thread(
            wait_for, lambda: "active_jobs" not in worker.worker_info(), 30, "the slot to free"
        )
        assert await redispatch.repair(livekit, name) >= 1
        await _until(lambda: agent_in_room(lkapi, waiting), 60, "the agent in the second call")
        ours = [d for d in await livekit.list_dispatches(waiting) if d.agent_name == name]
        assert len(ours) == 1, "replaced, not added: one dispatch of the agent per call"
    finally:
        await second.close()
