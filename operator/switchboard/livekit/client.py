"""A small async LiveKit client: SIP objects (full-replace updates), dispatches, call counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

import aiohttp
from livekit import api
from livekit.api import ServerError

from switchboard.livekit.errors import LiveKitError, LiveKitNotFound, translate

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveKitEndpoint:
    """Where a LiveKit deployment is and how to sign requests; the secret never prints."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)


class LiveKitClient:
    """The operations the operator needs, each one request, errors mapped to LiveKitError.

    Updates use the replace form on purpose: the partial-update API cannot clear lists.
    """

    def __init__(self, endpoint: LiveKitEndpoint, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self._timeout_s = timeout_s
        self._api: api.LiveKitAPI | None = None
        # Writes and reads per method: benchmarks and "no writes at steady state" read this.
        self.calls: Counter[str] = Counter()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    @property
    def lk(self) -> api.LiveKitAPI:
        # Created lazily: LiveKitAPI needs a running event loop for its aiohttp session.
        if self._api is None:
            self._api = api.LiveKitAPI(
                self.endpoint.url,
                self.endpoint.api_key,
                self.endpoint.api_secret,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                failover=False,  # self-hosted: one attempt; the reconciler owns retries
            )
        return self._api

    async def _call(self, operation: str, awaitable: Awaitable[T]) -> T:
        self.calls[operation] += 1
        try:
            return await awaitable
        except (TimeoutError, ServerError, aiohttp.ClientError) as err:
            raise translate(operation, err) from err

    # Inbound trunks

    async def list_inbound_trunks(
        self, trunk_ids: list[str] | None = None
    ) -> list[api.SIPInboundTrunkInfo]:
        req = api.ListSIPInboundTrunkRequest(trunk_ids=trunk_ids or [])
        resp = await self._call("ListSIPInboundTrunk", self.lk.sip.list_inbound_trunk(req))
        return list(resp.items)

    async def create_inbound_trunk(self, info: api.SIPInboundTrunkInfo) -> api.SIPInboundTrunkInfo:
        req = api.CreateSIPInboundTrunkRequest(trunk=info)
        return await self._call("CreateSIPInboundTrunk", self.lk.sip.create_inbound_trunk(req))

    async def update_inbound_trunk(
        self, trunk_id: str, info: api.SIPInboundTrunkInfo
    ) -> api.SIPInboundTrunkInfo:
        return await self._call(
            "UpdateSIPInboundTrunk", self.lk.sip.update_inbound_trunk(trunk_id, info)
        )

    # Outbound trunks

    async def list_outbound_trunks(
        self, trunk_ids: list[str] | None = None
    ) -> list[api.SIPOutboundTrunkInfo]:
        req = api.ListSIPOutboundTrunkRequest(trunk_ids=trunk_ids or [])
        resp = await self._call("ListSIPOutboundTrunk", self.lk.sip.list_outbound_trunk(req))
        return list(resp.items)

    async def create_outbound_trunk(
        self, info: api.SIPOutboundTrunkInfo
    ) -> api.SIPOutboundTrunkInfo:
        req = api.CreateSIPOutboundTrunkRequest(trunk=info)
        return await self._call("CreateSIPOutboundTrunk", self.lk.sip.create_outbound_trunk(req))

    async def update_outbound_trunk(
        self, trunk_id: str, info: api.SIPOutboundTrunkInfo
    ) -> api.SIPOutboundTrunkInfo:
        return await self._call(
            "UpdateSIPOutboundTrunk", self.lk.sip.update_outbound_trunk(trunk_id, info)
        )

    async def delete_trunk(self, trunk_id: str) -> None:
        """Delete an inbound or outbound trunk; LiveKit reports success for a missing ID."""
        req = api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id)
        await self._call("DeleteSIPTrunk", self.lk.sip.delete_trunk(req))

    # Dispatch rules

    async def list_dispatch_rules(
        self, rule_ids: list[str] | None = None
    ) -> list[api.SIPDispatchRuleInfo]:
        req = api.ListSIPDispatchRuleRequest(dispatch_rule_ids=rule_ids or [])
        resp = await self._call("ListSIPDispatchRule", self.lk.sip.list_dispatch_rule(req))
        return list(resp.items)

    async def create_dispatch_rule(self, info: api.SIPDispatchRuleInfo) -> api.SIPDispatchRuleInfo:
        # Only the dispatch_rule= form carries `numbers`.
        req = api.CreateSIPDispatchRuleRequest(dispatch_rule=info)
        return await self._call("CreateSIPDispatchRule", self.lk.sip.create_dispatch_rule(req))

    async def update_dispatch_rule(
        self, rule_id: str, info: api.SIPDispatchRuleInfo
    ) -> api.SIPDispatchRuleInfo:
        return await self._call(
            "UpdateSIPDispatchRule", self.lk.sip.update_dispatch_rule(rule_id, info)
        )

    async def delete_dispatch_rule(self, rule_id: str) -> bool:
        """Delete a rule; False when it was already gone (LiveKit answers 404 for those)."""
        req = api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id)
        try:
            await self._call("DeleteSIPDispatchRule", self.lk.sip.delete_dispatch_rule(req))
        except LiveKitNotFound:
            return False
        return True

    # Rooms and agent dispatches: only for re-dispatching calls LiveKit dropped.

    async def list_rooms(self) -> list[api.Room]:
        resp = await self._call("ListRooms", self.lk.room.list_rooms(api.ListRoomsRequest()))
        return list(resp.rooms)

    async def list_participants(self, room: str) -> list[api.ParticipantInfo]:
        req = api.ListParticipantsRequest(room=room)
        resp = await self._call("ListParticipants", self.lk.room.list_participants(req))
        return list(resp.participants)

    async def list_dispatches(self, room: str) -> list[api.AgentDispatch]:
        return await self._call("ListDispatch", self.lk.agent_dispatch.list_dispatch(room))

    async def create_dispatch(self, room: str, agent_name: str, metadata: str) -> str:
        req = api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
        created = await self._call("CreateDispatch", self.lk.agent_dispatch.create_dispatch(req))
        return str(created.id)

    async def delete_dispatch(self, room: str, dispatch_id: str) -> None:
        await self._call(
            "DeleteDispatch", self.lk.agent_dispatch.delete_dispatch(dispatch_id, room)
        )

    async def create_room(self, room: str, hold_s: int) -> None:
        """Create `room` (or keep the existing one) to live `hold_s` after it empties."""
        req = api.CreateRoomRequest(name=room, empty_timeout=hold_s, departure_timeout=hold_s)
        await self._call("CreateRoom", self.lk.room.create_room(req))

    async def room_exists(self, room: str) -> bool:
        req = api.ListRoomsRequest(names=[room])
        resp = await self._call("ListRooms", self.lk.room.list_rooms(req))
        return any(r.name == room for r in resp.rooms)

    async def delete_room(self, room: str) -> bool:
        """Delete a room, hanging up its SIP participants; False when it was already gone."""
        req = api.DeleteRoomRequest(room=room)
        try:
            await self._call("DeleteRoom", self.lk.room.delete_room(req))
        except LiveKitNotFound:
            return False
        return True


__all__ = ["LiveKitClient", "LiveKitEndpoint", "LiveKitError"]
