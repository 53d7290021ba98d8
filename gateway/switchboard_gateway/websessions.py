"""Browser sessions: the pure parts (origin, embed key, room name, token) of POST …/session."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from livekit import api
from switchboard_contract.channels import ATTR_CHANNEL, Channel

from switchboard_gateway.config import Route, WebAccess

# '_' is in neither a namespace nor an object name: the prefix names exactly one VoiceAgent
ROOM_PREFIX = "web_"
JOIN_WINDOW_S = 60  # the token only has to last until the browser joins; LiveKit refreshes it
EMBED_KEY_HEADER = "X-Switchboard-Embed-Key"


class Refusal(Exception):
    """A session request the gateway turns down: HTTP status, a stable code, a human message."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def body(self) -> str:
        return json.dumps({"error": self.code, "message": self.message})


def room_prefix(route: Route) -> str:
    return f"{ROOM_PREFIX}{route.namespace}_{route.name}_"


def check_origin(web: WebAccess, origin: str | None, own_origin: str) -> str:
    """The origin to echo in CORS headers, or Refusal(403) naming the allow-list."""
    if not origin:
        raise Refusal(403, "origin_required", "this endpoint answers browsers only (no Origin)")
    if origin in web.allowed_origins or "*" in web.allowed_origins:
        return origin
    if web.demo and origin == own_origin:
        return origin  # the gateway's own demo page
    raise Refusal(403, "origin_not_allowed", "this site may not start calls with this agent")


def check_embed_key(web: WebAccess, presented: str | None) -> None:
    if web.embed_key_sha256 is None:
        return
    if not presented:
        raise Refusal(401, "embed_key_required", "this agent needs an embed key")
    digest = hashlib.sha256(presented.encode()).hexdigest()
    if not hmac.compare_digest(digest, web.embed_key_sha256):
        raise Refusal(403, "bad_embed_key", "the embed key is not valid for this agent")


@dataclass
class SessionLedger:
    """Tokens handed out whose browser may not have joined yet (LiveKit cannot list them)."""

    pending: dict[str, float] = field(default_factory=dict)  # room -> join deadline

    def count(self, prefix: str, live_rooms: set[str], now: float) -> int:
        for room in [r for r, deadline in self.pending.items() if deadline < now]:
            del self.pending[room]
        waiting = {r for r in self.pending if r.startswith(prefix)} - live_rooms
        return len({r for r in live_rooms if r.startswith(prefix)}) + len(waiting)

    def issue(self, room: str, now: float) -> None:
        self.pending[room] = now + JOIN_WINDOW_S


def session_token(api_key: str, api_secret: str, route: Route, room: str, identity: str) -> str:
    """A join token for one fresh room: the agent dispatched by room config, no admin grant."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=["microphone"],
    )
    config = api.RoomConfiguration(
        name=room,
        empty_timeout=JOIN_WINDOW_S,
        departure_timeout=1,  # the caller hung up: free the room (and the worker) at once
        max_participants=2,
        agents=[api.RoomAgentDispatch(agent_name=route.agent_name)],
    )
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name("web caller")
        .with_attributes({ATTR_CHANNEL: Channel.WEB})
        .with_grants(grants)
        .with_room_config(config)
        .with_ttl(datetime.timedelta(seconds=JOIN_WINDOW_S))
        .to_jwt()
    )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address a rate limit should count: the peer, unless the peer is a trusted proxy
    (the Ingress): then the nearest X-Forwarded-For hop that is not one. Only hops the
    trusted proxies appended are believed, so a client cannot pick its own bucket by
    sending the header itself."""
    if not peer:
        return "unknown"
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    current = peer
    while _trusted(current, trusted) and hops:
        hop = hops.pop()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage in the chain: count the last hop we could read
        current = hop
    return current


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


@dataclass
class RateLimiter:
    """A token bucket per client IP: `rate` requests per minute, bursts of `burst`."""

    rate_per_min: float
    burst: int
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # ip -> (tokens, t)

    def allow(self, ip: str, now: float) -> int | None:
        """None if allowed, else seconds until the next request would be."""
        if len(self.buckets) > 10_000:  # bound memory under a spray of addresses
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 60}
        tokens, last = self.buckets.get(ip, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_min / 60)
        if tokens < 1:
            self.buckets[ip] = (tokens, now)
            return max(1, int((1 - tokens) * 60 / self.rate_per_min + 0.999))
        self.buckets[ip] = (tokens - 1, now)
        return None
