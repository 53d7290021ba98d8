"""livekit tier: capacity (callsPerWorker), hangup, end_call, maxCallDuration, SIGTERM drain."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api
from switchboard_agent.local import FliteTTS, PocketsphinxSTT

from devstack.livekit import LiveKitStack
from tests.support.agent_caller import transcribe
from tests.support.agent_livekit import (
    WorkerFactory,
    agent_in_room,
    call,
    dispatch,
    room_name,
)
from tests.support.agent_worker import wait_for

pytestmark = pytest.mark.livekit

# a few load-report intervals (0.5 s): long enough for a wrongly accepted job to show up
SETTLE = 3.0


async def _until(check: object, timeout: float = 120) -> None:
    async def poll() -> None:
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.parametrize("calls_per_worker", [1, 2])
async def test_calls_per_worker_is_exact(
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
    calls_per_worker: int,
) -> None:
    worker = agent_worker(callsPerWorker=calls_per_worker)
    name = worker.config["agentName"]
    rooms = [room_name("cap") for _ in range(3)]
    for room in rooms:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room))
    # three dispatches inside one load-report window (livekit/agents#4884)
    await asyncio.gather(
        *(
            lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name=name, room=room)
            )
            for room in rooms
        )
    )

    async def all_slots_taken() -> bool:
        return sum([await agent_in_room(lkapi, r) for r in rooms]) >= calls_per_worker

    await _until(all_slots_taken)
    await asyncio.sleep(SETTLE)
    joined = [r for r in rooms if await agent_in_room(lkapi, r)]
    assert len(joined) == calls_per_worker, joined
    assert worker.metric("switchboard_agent_jobs_accepted_total") == calls_per_worker
    assert worker.metric("switchboard_agent_active_calls") == calls_per_worker
    assert worker.worker_info().get("active_jobs") == calls_per_worker


async def test_hangup_frees_the_slot(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker()
    caller = await call(livekit_server, lkapi, worker.config["agentName"])
    await caller.next_utterance()  # greeting
    assert worker.worker_info().get("active_jobs") == 1
    await caller.close()
    # zero values are omitted from /worker
    await asyncio.to_thread(
        wait_for, lambda: "active_jobs" not in worker.worker_info(), 30, "job end"
    )
    assert worker.log_contains('"call ended"')
    assert worker.metric("switchboard_agent_active_calls") == 0


async def test_end_call_tool_hangs_up(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker()
    caller = await call(livekit_server, lkapi, worker.config["agentName"])
    try:
        await caller.next_utterance()  # greeting
        stt, tts = PocketsphinxSTT(), FliteTTS()
        heard: list[str] = []
        # Like a real caller, repeat yourself if the agent misheard (offline STT on a
        # loaded 2-core machine sometimes does); the hang-up itself must still happen.
        for _ in range(3):
            await caller.say("Please hang up now.", tts)
            try:
                reply = await caller.next_utterance(timeout=45)
            except TimeoutError:  # nothing was heard (VAD missed it): say it again
                heard.append("")
                continue
            heard.append(transcribe(reply.pcm, stt))
            if "goodbye" in heard[-1]:
                break
        assert "goodbye" in heard[-1], heard
        await asyncio.wait_for(caller.disconnected.wait(), 120)  # the room was deleted
    finally:
        await caller.close()


async def test_max_call_duration_ends_the_call(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker(maxCallDuration=3)
    caller = await call(livekit_server, lkapi, worker.config["agentName"])
    try:
        await asyncio.wait_for(caller.disconnected.wait(), 120)
    finally:
        await caller.close()
    assert worker.log_contains("maxCallDuration reached")


async def test_sigterm_drains(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker(drainTimeout=120)
    name = worker.config["agentName"]
    caller = await call(livekit_server, lkapi, name)
    try:
        await caller.next_utterance()  # greeting: the call is up
        worker.sigterm()
        await asyncio.to_thread(
            wait_for, lambda: worker.log_contains("draining worker"), 30, "drain"
        )
        # no new calls while draining
        late = room_name("late")
        await dispatch(lkapi, name, late)
        # the active call goes on
        await caller.say("What are your opening hours?", FliteTTS())
        answer = await caller.next_utterance()
        heard = transcribe(answer.pcm, PocketsphinxSTT())
        assert sum(w in heard for w in ("open", "nine", "five", "monday", "friday")) >= 2, heard
        assert worker.proc is not None and worker.proc.alive()
    finally:
        await caller.close()  # the caller hangs up: the call completes
    code = await asyncio.to_thread(worker.wait_exit, 60)
    assert code == 0, worker.log()[-3000:]
    assert not await agent_in_room(lkapi, late)
