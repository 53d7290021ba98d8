"""Telnyx media streaming: connected/start/media/dtmf/mark/error/stop in; media/mark/clear out."""

from __future__ import annotations

from typing import Any, ClassVar

from switchboard_gateway.protocol import (
    CarrierError,
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


class Telnyx:
    """https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming"""

    name: ClassVar[Provider] = "telnyx"
    mulaw_name: ClassVar[str] = "PCMU"

    def parse(self, message: dict[str, Any]) -> Event | None:
        event = text(message, "event")
        if event == "connected":
            return Connected()
        if event == "start":
            start = get(message, "start")
            if not isinstance(start, dict):
                raise ProtocolError("start: must be an object")
            params = start.get("custom_parameters") or {}
            if not isinstance(params, dict):
                raise ProtocolError("start.custom_parameters: must be an object")
            return Start(
                stream_id=text(message, "stream_id"),
                call_id=text(message, "start.call_control_id"),
                encoding=text(message, "start.media_format.encoding"),
                sample_rate=required_int(message, "start.media_format.sample_rate"),
                channels=optional_int(message, "start.media_format.channels") or 1,
                caller=start.get("from") or None,
                called=start.get("to") or None,
                parameters={str(k): str(v) for k, v in params.items()},
            )
        if event == "media":
            return inbound_media(message, "sequence_number")
        if event == "dtmf":
            return Dtmf(digit=text(message, "dtmf.digit"))
        if event == "mark":
            return Mark(name=text(message, "mark.name"))
        if event == "stop":
            return Stop()
        if event == "error":
            payload = message.get("payload")
            detail = (
                payload.get("detail") or payload.get("title") if isinstance(payload, dict) else None
            )
            return CarrierError(detail=str(detail or "unknown"))
        raise ProtocolError(f"event: unknown Telnyx event {event!r}")

    def media(self, stream_id: str, payload: bytes) -> dict[str, Any]:
        return {"event": "media", "media": {"payload": b64text(payload)}}

    def mark(self, stream_id: str, name: str) -> dict[str, Any]:
        return {"event": "mark", "mark": {"name": name}}

    def clear(self, stream_id: str) -> dict[str, Any]:
        return {"event": "clear"}
