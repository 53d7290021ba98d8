"""Webhook signatures: Twilio X-Twilio-Signature, Plivo V3, Telnyx ed25519 (pure functions)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TELNYX_TOLERANCE_S = 300  # Telnyx's own SDKs refuse timestamps older than five minutes


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """base64(HMAC-SHA1(token, url + each POST param's name+value, sorted by name))."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def twilio_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)


def _plivo_url(url: str, params: Mapping[str, str]) -> str:
    # V3 signs the URL with its query sorted by key, then the POST params' key+value sorted
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return base + "".join(k + params[k] for k in sorted(params))


def plivo_v3_signature(auth_token: str, url: str, params: Mapping[str, str], nonce: str) -> str:
    """base64(HMAC-SHA256(token, signed_url + "." + nonce)), Plivo's X-Plivo-Signature-V3."""
    payload = f"{_plivo_url(url, params)}.{nonce}"
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def plivo_v3_valid(
    auth_token: str, url: str, params: Mapping[str, str], nonce: str, header: str
) -> bool:
    """The header may carry several comma-separated signatures (one per account token)."""
    if not nonce or not header:
        return False
    expected = plivo_v3_signature(auth_token, url, params, nonce)
    return any(hmac.compare_digest(expected, sig.strip()) for sig in header.split(","))


def telnyx_valid(
    public_key_b64: str,
    body: bytes,
    signature_b64: str,
    timestamp: str,
    now: float | None = None,
) -> bool:
    """ed25519 over "timestamp|body" with the account's public key; stale timestamps fail."""
    if not signature_b64 or not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TELNYX_TOLERANCE_S:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), timestamp.encode() + b"|" + body)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
