"""One carrier stream: its dialect on the socket, a RoomBridge in LiveKit, and the glue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from livekit import api, rtc
from switchboard_contract.channels import ATTR_CHANNEL

from switchboard_gateway import metrics, mulaw
from switchboard_gateway.bridge import (
    ATTR_CALL_ID,
    ATTR_CALL_STATUS,
    ATTR_PHONE_NUMBER,
    ATTR_STREAM_ID,
    ATTR_TRUNK_PHONE_NUMBER,
    BridgeEvents,
    LiveKitSettings,
    RoomBridge,
    quiet,
)
from switchboard_gateway.config import GatewayConfig, Route
from switchboard_gateway.pacer import Pacer
from switchboard_gateway.protocol import (
    CarrierError,
    Cleared,
    Connected,
    Dialect,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    load,
)
from switchboard_gateway.tokens import StreamGrant

logger = logging.getLogger("switchboard.gateway")

CALLER_SPEECH_RMS = 500.0  # int16 RMS above which a caller frame counts as speech
BACKLOG_FRAMES = 2  # 40 ms queued (beyond the pacer's lead) counts as a backlog


class StreamEnded(Exception):
    """Ends the session's loops with a reason (not an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StreamSession:
    """Bridges one carrier WebSocket to one LiveKit room until either side hangs up."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        dialect: Dialect,
        route: Route,
        grant: StreamGrant,
        config: GatewayConfig,
        lkapi: api.LiveKitAPI,
    ) -> None:
        self._ws = ws
        self._dialect = dialect
        self._route = route
        self._grant = grant
        self._config = config
        self._lkapi = lkapi
        self._stream_id = ""
        self._bridge: RoomBridge | None = None
        self._pacer = Pacer(self._send, lambda p: dialect.media(self._stream_id, p))
        self._ended: asyncio.Future[str] | None = None
        self._last_caller_speech = -1e9
        self._turn = 0
        self.clears_sent = 0
        self._background: set[asyncio.Task[None]] = set()
        self._log: dict[str, str] = {"provider": dialect.name, "voiceagent": route.key}

    async def run(self) -> str:
        """Serve the stream; returns why it ended. Never raises for carrier mistakes."""
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        reason = "unknown"
        try:
            start = await self._await_start()
            await self._open(start)
            logger.info("stream started", extra=self._log)
            reader = asyncio.create_task(self._read(), name="stream-reader")
            pacer = asyncio.create_task(self._pacer.run(), name="stream-pacer")
            try:
                waits: list[asyncio.Future[Any]] = [reader, pacer, self._ended]
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                reason = self._reason(done)
            finally:
                for task in (reader, pacer):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StreamEnded, ProtocolError):
                        await task
        except StreamEnded as end:
            reason = end.reason
        except ProtocolError as err:
            reason = f"protocol error: {err}"
        except (api.TwirpError, rtc.ConnectError) as err:
            # LiveKit refused the room, the dispatch or the join: this call cannot be bridged
            reason = f"livekit unavailable: {type(err).__name__}"
        finally:
            carrier_left = not reason.startswith(("room closed", "agent left"))
            if self._bridge is not None:
                self._log["underruns"] = str(self._bridge.underruns)
                await self._bridge.close(delete_room=carrier_left)
            if not self._ws.closed:
                code = 1000 if not reason.startswith("protocol error") else 1003
                await self._ws.close(code=code, message=reason[:120].encode())
            metrics.STREAMS_ENDED.labels(self._dialect.name, _kind(reason)).inc()
            logger.info("stream ended: %s", reason, extra=self._log)
        return reason

    def _reason(self, done: set[asyncio.Future[Any]]) -> str:
        for fut in done:
            if fut is self._ended:
                return str(fut.result())
            exc = fut.exception()
            if isinstance(exc, StreamEnded):
                return exc.reason
            if isinstance(exc, ProtocolError):
                return f"protocol error: {exc}"
            if exc is not None:
                raise exc
        return "unknown"

    async def _next(self) -> Any:
        """The next carrier event (None for an ignored message); StreamEnded when it's over."""
        try:
            msg = await self._ws.receive(timeout=self._config.idle_timeout)
        except TimeoutError:
            raise StreamEnded(f"silent socket ({self._config.idle_timeout:g}s)") from None
        if msg.type == WSMsgType.TEXT:
            return self._dialect.parse(load(msg.data))
        if msg.type == WSMsgType.BINARY:
            raise ProtocolError("message: binary frames are not part of the protocol")
        if msg.type == WSMsgType.ERROR:
            raise StreamEnded(f"socket error: {self._ws.exception()}")
        raise StreamEnded("carrier closed the socket")

    async def _await_start(self) -> Start:
        while True:
            event = await self._next()
            if isinstance(event, Connected) or event is None:
                continue
            if isinstance(event, Start):
                return self._check_start(event)
            if isinstance(event, Stop):
                raise StreamEnded("carrier stop before start")
            raise ProtocolError(f"event: {type(event).__name__.lower()} before start")

    def _check_start(self, start: Start) -> Start:
        if start.encoding != self._dialect.mulaw_name:
            raise ProtocolError(
                f"mediaFormat.encoding: {start.encoding!r}, only {self._dialect.mulaw_name!r}"
            )
        if start.sample_rate != mulaw.SAMPLE_RATE or start.channels != 1:
            raise ProtocolError(
                f"mediaFormat.sampleRate: {start.sample_rate} Hz x{start.channels}, only 8000 x1"
            )
        if self._grant.call_id not in (start.call_id, start.parameters.get("callSid")):
            raise StreamEnded("token was issued for another call")
        return start

    async def _open(self, start: Start) -> None:
        self._stream_id = start.stream_id
        ns = self._route.namespace
        self._log.update(
            call=self._config.hash(start.call_id, ns),
            stream=self._config.hash(start.stream_id, ns),
            caller_number=self._config.hash(start.caller, ns) if start.caller else "withheld",
        )
        attributes = {
            ATTR_CALL_ID: start.call_id,
            ATTR_CHANNEL: self._dialect.name,
            ATTR_STREAM_ID: start.stream_id,
            ATTR_CALL_STATUS: "active",
        }
        if start.caller:
            attributes[ATTR_PHONE_NUMBER] = start.caller
        if start.called:
            attributes[ATTR_TRUNK_PHONE_NUMBER] = start.called
        # the room name is logged by LiveKit and the worker: random, never the caller's number
        room = f"{self._route.room_prefix}{self._dialect.name}-{secrets.token_hex(6)}"
        self._log["room"] = room
        settings = LiveKitSettings(
            self._config.livekit_url,
            self._config.livekit_api_key,
            self._config.livekit_api_secret.get_secret_value(),
            resampler=self._config.resampler,
        )
        events = BridgeEvents(self._agent_frame, self._agent_state, self._end)
        identity = f"{self._dialect.name}_{secrets.token_hex(6)}"
        self._bridge = RoomBridge(settings, self._lkapi, room, identity, attributes, events)
        await self._bridge.open(self._route.agent_name)

    async def _read(self) -> None:
        assert self._bridge is not None
        loop = asyncio.get_running_loop()
        while True:
            event = await self._next()
            if isinstance(event, Media):
                pcm = mulaw.decode(event.payload)
                if _rms(pcm) > CALLER_SPEECH_RMS:
                    self._last_caller_speech = loop.time()
                self._bridge.push_caller(pcm)
            elif isinstance(event, Dtmf):
                logger.info("dtmf", extra=self._log)
                await self._bridge.dtmf(event.digit)
            elif isinstance(event, Mark):
                metrics.MARKS_ECHOED.labels(self._dialect.name).inc()
            elif isinstance(event, Stop):
                raise StreamEnded("carrier stop")
            elif isinstance(event, CarrierError):
                raise StreamEnded(f"carrier error: {event.detail[:80]}")
            elif isinstance(event, Start):
                raise ProtocolError("event: a second start on one stream")
            elif isinstance(event, Cleared | Connected) or event is None:
                continue

    async def _send(self, message: dict[str, Any]) -> None:
        if not self._ws.closed:
            await self._ws.send_json(message)

    def _agent_frame(self, pcm: bytes) -> None:
        # as for the caller's audio: skip quiet frames while a backlog stands, or one
        # burst from LiveKit would delay every later word of the call
        if self._pacer.queued_frames >= BACKLOG_FRAMES and quiet(pcm):
            return
        self._pacer.frame(mulaw.encode(pcm))

    def _agent_state(self, previous: str, state: str) -> None:
        if previous != "speaking" or state == "speaking":
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_caller_speech < self._config.barge_in_window:
            # the agent stopped while the caller talks: the caller interrupted it. Whatever
            # the carrier still buffers of the old answer must go now, not play over them.
            dropped = self._pacer.drop()
            self.clears_sent += 1
            metrics.CLEARS.labels(self._dialect.name).inc()
            logger.info("barge-in: clear (%d queued frames dropped)", dropped, extra=self._log)
            # at once, ahead of anything queued: the pacer's queue was just emptied anyway
            task = asyncio.create_task(self._send(self._dialect.clear(self._stream_id)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        self._turn += 1
        self._pacer.mark(self._dialect.mark(self._stream_id, f"turn-{self._turn}"))

    def _end(self, reason: str) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(reason)


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def _kind(reason: str) -> str:
    """A bounded label for the end reason (metrics must not get free text)."""
    for prefix, kind in (
        ("carrier stop", "carrier_stop"),
        ("carrier closed", "carrier_close"),
        ("carrier error", "carrier_error"),
        ("room closed", "agent_hangup"),
        ("agent left", "agent_hangup"),
        ("silent socket", "silent"),
        ("protocol error", "protocol_error"),
        ("token", "token"),
        ("livekit unavailable", "livekit_unavailable"),
    ):
        if reason.startswith(prefix):
            return kind
    return "other"
