"""Helpers for the agent's livekit-tier tests: dispatch, a caller joining, who is in a room."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from livekit import api

from devstack.livekit import LiveKitStack
from tests.support.agent_caller import SimCaller, caller_token
from tests.support.agent_worker import AgentWorker

WorkerFactory = Callable[..., AgentWorker]


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
    server: LiveKitStack,
    lkapi: api.LiveKitAPI,
    agent_name: str,
    identity: str = "caller-1",
    **attrs: str,
) -> SimCaller:
    """Dispatch the agent to a fresh room and join that room as the caller."""
    room = room_name()
    await dispatch(lkapi, agent_name, room)
    return await join(server, room, identity, **attrs)


async def agent_in_room(lkapi: api.LiveKitAPI, room: str) -> bool:
    resp = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    return any(p.kind == api.ParticipantInfo.Kind.AGENT for p in resp.participants)
