"""Per-call stream tokens: the answer webhook mints one, the stream connect must present it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

TOKEN_TTL_S = 60  # the carrier opens the stream within seconds of fetching the webhook


class TokenError(ValueError):
    """The stream token is missing, forged, expired or for another route."""


@dataclass(frozen=True)
class StreamGrant:
    """What a valid token grants: one stream of `call_id` to `route` over `provider`."""

    provider: str
    route: str  # "<namespace>/<name>" of the VoiceAgent
    call_id: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(key: bytes, grant: StreamGrant) -> str:
    """`<body>.<mac>`, URL-path safe. The call ID is not secret; the MAC binds the rest."""
    body = _b64(
        json.dumps(
            {"p": grant.provider, "r": grant.route, "c": grant.call_id, "e": grant.expires},
            separators=(",", ":"),
        ).encode()
    )
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def new_grant(provider: str, route: str, call_id: str, now: float | None = None) -> StreamGrant:
    now = time.time() if now is None else now
    return StreamGrant(provider, route, call_id, int(now) + TOKEN_TTL_S)


def verify(
    key: bytes, token: str, provider: str, route: str, now: float | None = None
) -> StreamGrant:
    """The grant in `token`, or TokenError saying why not (never echoing the token)."""
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac:
        raise TokenError("token: malformed")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        raise TokenError("token: bad signature")
    try:
        doc = json.loads(_unb64(body))
        grant = StreamGrant(str(doc["p"]), str(doc["r"]), str(doc["c"]), int(doc["e"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise TokenError(f"token: malformed body ({type(err).__name__})") from None
    if grant.provider != provider or grant.route != route:
        raise TokenError("token: issued for another provider or VoiceAgent")
    if (time.time() if now is None else now) > grant.expires:
        raise TokenError("token: expired")
    return grant
