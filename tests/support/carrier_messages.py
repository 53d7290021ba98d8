"""What each carrier double sends, message by message, in its provider's exact dialect.

A mixin of CarrierCall (tests/support/carriers.py): the field names, types (Twilio and Telnyx
send numbers as strings, Plivo as numbers) and nesting follow each provider's docs.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any


class CarrierMessages:
    """Builders for the messages a carrier sends; needs provider/call_id/stream_id/_seq."""

    provider: str
    call_id: str
    stream_id: str
    caller: str
    called: str
    _seq: int
    _chunk: int

    def opening(self, params: dict[str, str]) -> list[dict[str, Any]]:
        if self.provider == "twilio":
            start = {
                "accountSid": "AC" + "0" * 32,
                "streamSid": self.stream_id,
                "callSid": self.call_id,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            }
            return [
                {"event": "connected", "protocol": "Call", "version": "1.0.0"},
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "start": start,
                    "streamSid": self.stream_id,
                },
            ]
        if self.provider == "plivo":
            start = {
                "callId": self.call_id,
                "streamId": self.stream_id,
                "accountId": "MA" + "0" * 18,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            }
            extra = ";".join(f"{k}={v}" for k, v in params.items())
            return [{"event": "start", "sequenceNumber": 1, "start": start, "extra_headers": extra}]
        start = {
            "user_id": str(uuid.uuid4()),
            "call_control_id": self.call_id,
            "call_session_id": str(uuid.uuid4()),
            "from": self.caller,
            "to": self.called,
            "custom_parameters": params,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        return [
            {"event": "connected", "version": "1.0.0"},
            {"event": "start", "sequence_number": "1", "start": start, "stream_id": self.stream_id},
        ]

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq + 1  # the opening start message was 1

    def media_message(self, payload: bytes) -> dict[str, Any]:
        self._chunk += 1
        stamp = str(self._chunk * 20)
        encoded = base64.b64encode(payload).decode()
        seq = self._next_seq()
        if self.provider == "twilio":
            return {
                "event": "media",
                "sequenceNumber": str(seq),
                "streamSid": self.stream_id,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": stamp,
                    "payload": encoded,
                },
            }
        if self.provider == "plivo":
            return {
                "event": "media",
                "sequenceNumber": seq,
                "streamId": self.stream_id,
                "media": {
                    "track": "inbound",
                    "timestamp": str(int(time.time() * 1000)),
                    "chunk": self._chunk,
                    "payload": encoded,
                },
            }
        return {
            "event": "media",
            "sequence_number": str(seq),
            "stream_id": self.stream_id,
            "media": {
                "track": "inbound",
                "chunk": str(self._chunk),
                "timestamp": stamp,
                "payload": encoded,
            },
        }

    def dtmf_message(self, digit: str) -> dict[str, Any]:
        seq = self._next_seq()
        if self.provider == "twilio":
            return {
                "event": "dtmf",
                "streamSid": self.stream_id,
                "sequenceNumber": str(seq),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        if self.provider == "plivo":
            return {
                "event": "dtmf",
                "sequenceNumber": seq,
                "streamId": self.stream_id,
                "dtmf": {
                    "track": "inbound",
                    "digit": digit,
                    "timestamp": str(int(time.time() * 1000)),
                },
            }
        return {
            "event": "dtmf",
            "stream_id": self.stream_id,
            "sequence_number": str(seq),
            "occurred_at": "2026-12-02T03:30:00.000Z",
            "dtmf": {"digit": digit},
        }

    def mark_echo(self, name: str) -> dict[str, Any]:
        seq = self._next_seq()
        if self.provider == "twilio":
            return {
                "event": "mark",
                "sequenceNumber": str(seq),
                "streamSid": self.stream_id,
                "mark": {"name": name},
            }
        if self.provider == "plivo":
            return {
                "event": "playedStream",
                "sequenceNumber": seq,
                "streamId": self.stream_id,
                "name": name,
            }
        return {
            "event": "mark",
            "sequence_number": str(seq),
            "stream_id": self.stream_id,
            "mark": {"name": name},
        }
