"""Twilio Media Streams: connected/start/media/dtmf/mark/stop in; media/mark/clear out."""

from __future__ import annotations

from typing import Any, ClassVar

from switchboard_gateway.protocol import (
    Connected,
    Dtmf,
    Event,
    Mark,
    ProtocolError,
    Provider,
    Start,
    Stop,
    b64text,
    get,
    inbound_media,
    optional_int,
    required_int,
    text,
)


class Twilio:
    """https://www.twilio.com/docs/voice/media-streams/websocket-messages"""

    name: ClassVar[Provider] = "twilio"
    mulaw_name: ClassVar[str] = "audio/x-mulaw"

    def parse(self, message: dict[str, Any]) -> Event | None:
        event = text(message, "event")
        if event == "connected":
            return Connected()
        if event == "start":
            params = (
                get(message, "start.customParameters")
                if "customParameters" in (message.get("start") or {})
                else {}
            )
            if not isinstance(params, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in params.items()
            ):
                raise ProtocolError("start.customParameters: must map strings to strings")
            return Start(
                stream_id=text(message, "start.streamSid"),
                call_id=text(message, "start.callSid"),
                encoding=text(message, "start.mediaFormat.encoding"),
                sample_rate=required_int(message, "start.mediaFormat.sampleRate"),
                channels=optional_int(message, "start.mediaFormat.channels") or 1,
                caller=params.get("from") or None,
                called=params.get("to") or None,
                parameters=dict(params),
            )
        if event == "media":
            return inbound_media(message, "sequenceNumber")
        if event == "dtmf":
            return Dtmf(digit=text(message, "dtmf.digit"))
        if event == "mark":
            return Mark(name=text(message, "mark.name"))
        if event == "stop":
            return Stop()
        raise ProtocolError(f"event: unknown Twilio event {event!r}")

    def media(self, stream_id: str, payload: bytes) -> dict[str, Any]:
        return {"event": "media", "streamSid": stream_id, "media": {"payload": b64text(payload)}}

    def mark(self, stream_id: str, name: str) -> dict[str, Any]:
        return {"event": "mark", "streamSid": stream_id, "mark": {"name": name}}

    def clear(self, stream_id: str) -> dict[str, Any]:
        return {"event": "clear", "streamSid": stream_id}
