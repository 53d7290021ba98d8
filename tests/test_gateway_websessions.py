"""unit tier: the pure parts of browser sessions: origin, embed key, ledger, limiter, token."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from livekit import api
from switchboard_gateway.config import Route, WebAccess
from switchboard_gateway.websessions import (
    JOIN_WINDOW_S,
    RateLimiter,
    Refusal,
    SessionLedger,
    check_embed_key,
    check_origin,
    client_ip,
    room_prefix,
    session_token,
)

pytestmark = pytest.mark.unit

OWN = "https://gw.example.test"
KEY = "embed-key-for-tests"


def access(**kw: object) -> WebAccess:
    return WebAccess.model_validate({"allowedOrigins": ["https://shop.example.test"], **kw})


def route() -> Route:
    return Route.model_validate(
        {"namespace": "acme", "name": "front-desk", "agentName": "sb-acme-front-desk"}
    )


def refused(fn: object, *args: object) -> Refusal:
    with pytest.raises(Refusal) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


def test_origins() -> None:
    web = access()
    assert check_origin(web, "https://shop.example.test", OWN) == "https://shop.example.test"
    assert check_origin(web, OWN, OWN) == OWN  # the gateway's demo page
    assert refused(check_origin, access(demo=False), OWN, OWN).code == "origin_not_allowed"
    err = refused(check_origin, web, "https://evil.example.test", OWN)
    assert (err.status, err.code) == (403, "origin_not_allowed")
    # a prefix or suffix of an allowed origin is another origin
    assert refused(check_origin, web, "https://shop.example.test.evil.test", OWN).status == 403
    assert refused(check_origin, web, None, OWN).code == "origin_required"
    assert check_origin(access(allowedOrigins=["*"]), "https://any.test", OWN) == "https://any.test"


def test_embed_key() -> None:
    check_embed_key(access(), None)  # no key configured: open to the allowed origins
    keyed = access(embedKeySha256=hashlib.sha256(KEY.encode()).hexdigest())
    check_embed_key(keyed, KEY)
    assert refused(check_embed_key, keyed, None).status == 401
    err = refused(check_embed_key, keyed, KEY + "x")
    assert (err.status, err.code) == (403, "bad_embed_key")
    assert KEY not in err.body()
    with pytest.raises(ValueError, match="embedKeySha256"):
        access(embedKeySha256="not-a-digest")


def test_ledger_counts_live_rooms_and_unjoined_tokens() -> None:
    ledger = SessionLedger()
    prefix = room_prefix(route())
    assert prefix == "web_acme_front-desk_"
    ledger.issue(prefix + "a", now=0)
    ledger.issue(prefix + "b", now=0)
    ledger.issue("web_acme_front-desk-2_c", now=0)  # another VoiceAgent: not counted
    live = {prefix + "a", prefix + "z", "stream-x"}
    assert ledger.count(prefix, live, now=1) == 3  # a and z live, b issued and not joined
    assert ledger.count(prefix, live, now=JOIN_WINDOW_S + 1) == 2  # b never joined: forgotten


def test_rate_limiter() -> None:
    limiter = RateLimiter(rate_per_min=6, burst=2)
    assert limiter.allow("10.0.0.1", 0) is None
    assert limiter.allow("10.0.0.1", 0) is None
    assert limiter.allow("10.0.0.1", 0) == 10  # one token per 10 s
    assert limiter.allow("10.0.0.2", 0) is None  # per client address
    assert limiter.allow("10.0.0.1", 10) is None


def test_session_token_is_scoped_to_one_room() -> None:
    room = room_prefix(route()) + "0123456789ab"
    jwt = session_token("devkey", "s" * 32, route(), room, "web-caller")
    claims = api.TokenVerifier("devkey", "s" * 32).verify(jwt)
    video = claims.video
    assert (video.room, video.room_join, video.can_publish, video.can_subscribe) == (
        room,
        True,
        True,
        True,
    )
    assert not (video.room_admin or video.room_create or video.room_list or video.can_publish_data)
    assert video.can_publish_sources == ["microphone"]
    assert claims.attributes == {"switchboard.channel": "web"}
    config = claims.room_config
    assert config is not None and config.name == room
    assert [a.agent_name for a in config.agents] == ["sb-acme-front-desk"]
    assert config.max_participants == 2


TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted"),
    [
        ("203.0.113.7", None, "203.0.113.7"),  # a direct client
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # its own header is not believed
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),  # through the Ingress
        ("10.1.2.3", "198.51.100.9, 198.51.100.1, 10.0.0.5", "198.51.100.1"),  # two proxies
        ("10.1.2.3", None, "10.1.2.3"),  # a proxy without the header: itself
        ("10.1.2.3", "198.51.100.1, not-an-ip", "10.1.2.3"),  # garbage: the last readable hop
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_rate_limit_counts_the_client_behind_trusted_proxies(
    peer: str | None, forwarded: str | None, counted: str
) -> None:
    assert client_ip(peer, forwarded, TRUSTED) == counted
    assert client_ip(peer, forwarded, ()) == (peer or "unknown")  # nothing trusted: the peer
