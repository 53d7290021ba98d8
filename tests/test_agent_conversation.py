"""livekit tier: a dispatched worker greets, hears a flite-spoken question, answers with flite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from switchboard_agent.local import FliteTTS, PocketsphinxSTT

from devstack.livekit import LiveKitStack
from tests.support.agent_caller import SimCaller, caller_token, transcribe
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker

pytestmark = pytest.mark.livekit


@pytest.fixture
def worker(livekit_server: LiveKitStack, tmp_path: Path) -> Iterator[AgentWorker]:
    doc = offline_config_doc(agentName=f"conv-{uuid.uuid4().hex[:6]}")
    w = AgentWorker(
        tmp_path, doc, livekit_server.url, livekit_server.api_key, livekit_server.api_secret
    )
    w.start()
    yield w
    w.stop()


@pytest.fixture
async def lkapi(livekit_server: LiveKitStack) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret
    ) as client:
        yield client


async def dispatch(lkapi: api.LiveKitAPI, agent_name: str, room: str) -> None:
    await lkapi.room.create_room(api.CreateRoomRequest(name=room))
    await lkapi.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name=agent_name, room=room)
    )


async def join(server: LiveKitStack, room: str, **attrs: Any) -> SimCaller:
    token = caller_token(server.api_key, server.api_secret, room, "caller-1", attrs or None)
    return await SimCaller(server.url, token).connect()


async def test_conversation(
    livekit_server: LiveKitStack, worker: AgentWorker, lkapi: api.LiveKitAPI
) -> None:
    room = f"call-{uuid.uuid4().hex[:8]}"
    await dispatch(lkapi, worker.config["agentName"], room)
    caller = await join(livekit_server, room)
    stt, tts = PocketsphinxSTT(), FliteTTS()
    try:
        greeting = await caller.next_utterance()
        heard = transcribe(greeting.pcm, stt)
        assert "thank you" in heard or "calling" in heard, heard

        await caller.say("What are your opening hours?", tts)
        answer = await caller.next_utterance()
        heard = transcribe(answer.pcm, stt)
        # "We are open from nine to five, Monday to Friday."
        assert sum(w in heard for w in ("open", "nine", "five", "monday", "friday")) >= 2, heard
    finally:
        await caller.close()
    assert "+1555" not in worker.log()
