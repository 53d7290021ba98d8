"""Plivo (and Vobiz) audio streams: start/media/dtmf/playedStream/clearedAudio in;
playAudio/checkpoint/clearAudio out. The stream ends by closing the socket (no `stop`)."""

from __future__ import annotations

from typing import Any, ClassVar

from switchboard_gateway.mulaw import SAMPLE_RATE
from switchboard_gateway.protocol import (
    Cleared,
    Dtmf,
    Event,
    Mark,
    ProtocolError,
    Provider,
    Start,
    Stop,
    b64text,
    inbound_media,
    required_int,
    text,
)


def parse_extra_headers(raw: str) -> dict[str, str]:
    """Plivo's `extra_headers` string ("a=1;b=2" or "a=1,b=2") → a dict."""
    out: dict[str, str] = {}
    for item in raw.replace(",", ";").split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def _number(value: str | None) -> str | None:
    # extraHeaders admit only [A-Za-z0-9], so the answer webhook sends E.164 without its "+"
    if not value:
        return None
    return value if value.startswith("+") else "+" + value


class Plivo:
    """https://www.plivo.com/docs/voice/xml/audiostream (Vobiz: the same dialect)."""

    name: ClassVar[Provider] = "plivo"
    mulaw_name: ClassVar[str] = "audio/x-mulaw"

    def parse(self, message: dict[str, Any]) -> Event | None:
        event = text(message, "event")
        if event == "start":
            raw = message.get("extra_headers") or ""
            if not isinstance(raw, str):
                raise ProtocolError("extra_headers: must be a string")
            headers = parse_extra_headers(raw)
            return Start(
                stream_id=text(message, "start.streamId"),
                call_id=text(message, "start.callId"),
                encoding=text(message, "start.mediaFormat.encoding"),
                sample_rate=required_int(message, "start.mediaFormat.sampleRate"),
                caller=_number(headers.get("from")),
                called=_number(headers.get("to")),
                parameters=headers,
            )
        if event == "media":
            return inbound_media(message, "sequenceNumber")
        if event == "dtmf":
            return Dtmf(digit=text(message, "dtmf.digit"))
        if event == "playedStream":
            return Mark(name=text(message, "name"))
        if event == "clearedAudio":
            return Cleared()
        if event == "stop":  # not in Plivo's docs, but Vobiz-compatible servers send it
            return Stop()
        raise ProtocolError(f"event: unknown Plivo event {event!r}")

    def media(self, stream_id: str, payload: bytes) -> dict[str, Any]:
        return {
            "event": "playAudio",
            "media": {
                "contentType": self.mulaw_name,
                "sampleRate": SAMPLE_RATE,
                "payload": b64text(payload),
            },
        }

    def mark(self, stream_id: str, name: str) -> dict[str, Any]:
        return {"event": "checkpoint", "streamId": stream_id, "name": name}

    def clear(self, stream_id: str) -> dict[str, Any]:
        return {"event": "clearAudio", "streamId": stream_id}
