"""Helpers for the agent's livekit-tier tests: API client, dispatch, a caller joining."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from devstack.livekit import LiveKitStack
from tests.support.agent_caller import SimCaller, caller_token
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker

WorkerFactory = Callable[..., AgentWorker]


@pytest.fixture
def agent_worker(livekit_server: LiveKitStack, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers with an offline config (overrides as keyword args); stopped after."""
    started: list[AgentWorker] = []

    def start(**overrides: Any) -> AgentWorker:
        overrides.setdefault("agentName", f"agent-{uuid.uuid4().hex[:8]}")
        w = AgentWorker(
            tmp_path / f"worker{len(started)}",
            offline_config_doc(**overrides),
            livekit_server.url,
            livekit_server.api_key,
            livekit_server.api_secret,
        )
        started.append(w)
        return w.start()

    yield start
    for w in started:
        w.stop()


@pytest.fixture
async def lkapi(livekit_server: LiveKitStack) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret
    ) as client:
        yield client


def room_name(prefix: str = "call") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def dispatch(lkapi: api.LiveKitAPI, agent_name: str, room: str) -> None:
    """Create `room` and explicitly dispatch `agent_name` to it."""
    await lkapi.room.create_room(api.CreateRoomRequest(name=room))
    await lkapi.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name=agent_name, room=room)
    )


async def join(
    server: LiveKitStack, room: str, identity: str = "caller-1", **attrs: str
) -> SimCaller:
    token = caller_token(server.api_key, server.api_secret, room, identity, attrs or None)
    return await SimCaller(server.url, token).connect()


async def call(
    server: LiveKitStack, lkapi: api.LiveKitAPI, agent_name: str,
    identity: str = "caller-1", **attrs: str,
) -> SimCaller:  # fmt: skip
    """Dispatch the agent to a fresh room and join that room as the caller."""
    room = room_name()
    await dispatch(lkapi, agent_name, room)
    return await join(server, room, identity, **attrs)


async def agent_in_room(lkapi: api.LiveKitAPI, room: str) -> bool:
    resp = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    return any(p.kind == api.ParticipantInfo.Kind.AGENT for p in resp.participants)
