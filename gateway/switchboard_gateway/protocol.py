"""The provider-neutral stream events every dialect parses into, and its error type."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

Provider = Literal["twilio", "plivo", "telnyx"]
PROVIDERS: tuple[Provider, ...] = ("twilio", "plivo", "telnyx")


class ProtocolError(ValueError):
    """A carrier message that breaks its dialect; the message names the field."""


@dataclass(frozen=True)
class Connected:
    """The socket's first message (Twilio, Telnyx); carries nothing we need."""


@dataclass(frozen=True)
class Start:
    """The stream's metadata. `caller`/`called` are raw numbers: never log them."""

    stream_id: str
    call_id: str
    encoding: str
    sample_rate: int
    channels: int = 1
    caller: str | None = field(default=None, repr=False)
    called: str | None = field(default=None, repr=False)
    parameters: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Media:
    payload: bytes
    sequence: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Mark:
    """A mark/checkpoint the carrier echoes once the audio before it was played (or cleared)."""

    name: str


@dataclass(frozen=True)
class Cleared:
    """The carrier confirmed a clear (Plivo's clearedAudio)."""


@dataclass(frozen=True)
class Stop:
    """The carrier ended the stream (the caller hung up, or the call was redirected)."""


@dataclass(frozen=True)
class CarrierError:
    """The carrier reported an error on the stream (Telnyx `error`); ends the call."""

    detail: str


Event = Connected | Start | Media | Dtmf | Mark | Cleared | Stop | CarrierError


class Dialect(Protocol):
    """One provider's message protocol: parse what it sends, build what we send it."""

    name: ClassVar[Provider]
    # the encoding name that provider uses for 8 kHz μ-law in its start message
    mulaw_name: ClassVar[str]

    def parse(self, message: dict[str, Any]) -> Event | None: ...

    def media(self, stream_id: str, payload: bytes) -> dict[str, Any]: ...

    def mark(self, stream_id: str, name: str) -> dict[str, Any]: ...

    def clear(self, stream_id: str) -> dict[str, Any]: ...


def load(text: str | bytes) -> dict[str, Any]:
    """One WebSocket text message → its JSON object, or ProtocolError."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProtocolError(f"message: not JSON ({err})") from None
    if not isinstance(value, dict):
        raise ProtocolError("message: not a JSON object")
    return value


def text(obj: dict[str, Any], path: str) -> str:
    """A required non-empty string at a dotted `path` of `obj`."""
    value = get(obj, path)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{path}: required non-empty string")
    return value


def get(obj: dict[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise ProtocolError(f"{path}: missing")
        current = current[part]
    return current


def optional_int(obj: dict[str, Any], path: str) -> int | None:
    """An integer that providers send as a number or a decimal string; absent → None."""
    try:
        value = get(obj, path)
    except ProtocolError:
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"{path}: not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ProtocolError(f"{path}: not an integer")


def required_int(obj: dict[str, Any], path: str) -> int:
    value = optional_int(obj, path)
    if value is None:
        raise ProtocolError(f"{path}: missing")
    return value


def b64(obj: dict[str, Any], path: str) -> bytes:
    raw = text(obj, path)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ProtocolError(f"{path}: not base64 ({err})") from None


def b64text(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def inbound_media(message: dict[str, Any], sequence_path: str) -> Media | None:
    """A `media` event of the caller's track; None for the echo of our own audio (a stream of
    both tracks sends it back). The dialects differ only in where the sequence number is."""
    if (message.get("media") or {}).get("track", "inbound") != "inbound":
        return None
    return Media(
        payload=b64(message, "media.payload"),
        sequence=optional_int(message, sequence_path),
        timestamp_ms=optional_int(message, "media.timestamp"),
    )
