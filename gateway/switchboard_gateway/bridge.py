"""The LiveKit side of one stream: a room, the agent dispatched to it, and one participant."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np
from livekit import api, rtc

from switchboard_gateway.mulaw import FRAME_SAMPLES, SAMPLE_RATE
from switchboard_gateway.resample import Downsampler6x, Upsampler2x

logger = logging.getLogger("switchboard.gateway")

ATTR_AGENT_STATE = "lk.agent.state"  # livekit-agents publishes its state on its participant
# the attributes the worker reads for a phone caller (agent/switchboard_agent/caller_id.py)
ATTR_CALL_ID = "sip.callID"
ATTR_PHONE_NUMBER = "sip.phoneNumber"
ATTR_TRUNK_PHONE_NUMBER = "sip.trunkPhoneNumber"
ATTR_CALL_STATUS = "sip.callStatus"
ATTR_STREAM_ID = "switchboard.streamID"

PUBLISH_RATE = 16000
SUBSCRIBE_RATE = 48000  # Opus decodes at 48 kHz: no resampling inside the SDK
CHUNK_BYTES = PUBLISH_RATE // 100 * 2  # 10 ms: WebRTC's own frame
TARGET_INBOX_CHUNKS = 2  # 20 ms of margin over the source's own 50 ms queue
MAX_INBOX_CHUNKS = 12  # 120 ms: the most caller audio we hold back to ride out jitter
QUIET_PEAK = 300  # int16 peak below which a chunk is silence we may skip


def quiet(pcm: bytes) -> bool:
    return int(np.abs(np.frombuffer(pcm, dtype="<i2")).max(initial=0)) < QUIET_PEAK


DTMF_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14}
DTMF_CODES["D"] = 15


@dataclass(frozen=True)
class LiveKitSettings:
    url: str
    api_key: str
    api_secret: str
    # "fir": the gateway's own short filters (resample.py, ~1.5 ms); "soxr": livekit's
    # resamplers (VERY_HIGH up, the SDK's down), kept to measure against (bench gateway)
    resampler: str = "fir"


@dataclass
class BridgeEvents:
    """What the stream session hears from the room (called on the event loop)."""

    agent_frame: Callable[[bytes], None]  # 20 ms of agent audio, 8 kHz s16le
    agent_state: Callable[[str, str], None]  # (previous, new) lk.agent.state
    ended: Callable[[str], None]  # the room or the agent went away: hang up


class RoomBridge:
    """One participant in a fresh room, with the VoiceAgent's agent dispatched to it."""

    def __init__(
        self,
        settings: LiveKitSettings,
        lkapi: api.LiveKitAPI,
        room_name: str,
        identity: str,
        attributes: dict[str, str],
        events: BridgeEvents,
    ) -> None:
        self._settings = settings
        self._lkapi = lkapi
        self.room_name = room_name
        self._identity = identity
        self._attributes = attributes
        self._events = events
        self.room = rtc.Room()
        # Published at 16 kHz in 10 ms frames: an 8 kHz source came out of LiveKit garbled
        # for the agent's STT (measured: 0 of 4 flite questions recognised, against 4 of 6).
        self._source = rtc.AudioSource(PUBLISH_RATE, 1, queue_size_ms=50)
        self._fir = settings.resampler == "fir"
        self._up = Upsampler2x()
        self._upsample = rtc.AudioResampler(
            SAMPLE_RATE, PUBLISH_RATE, num_channels=1, quality=rtc.AudioResamplerQuality.VERY_HIGH
        )
        self._pending = b""
        self._inbox: collections.deque[bytes] = collections.deque()
        self.underruns = 0  # 10 ms chunks of silence sent because no caller audio had come
        self.dropped = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._agent_state = ""
        self._agent_seen = False
        self._closed = False

    async def open(self, agent_name: str) -> None:
        """Create the room, dispatch the agent, join and publish the caller's track."""
        await self._lkapi.room.create_room(api.CreateRoomRequest(name=self.room_name))
        await self._lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_name, room=self.room_name)
        )
        token = (
            api.AccessToken(self._settings.api_key, self._settings.api_secret)
            .with_identity(self._identity)
            .with_name("phone caller")
            .with_attributes(self._attributes)
            .with_grants(
                api.VideoGrants(
                    room_join=True, room=self.room_name, can_publish=True, can_subscribe=True
                )
            )
            .to_jwt()
        )
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_connected", self._on_participant)
        self.room.on("participant_disconnected", self._on_participant_left)
        self.room.on("participant_attributes_changed", self._on_attributes)
        self.room.on("disconnected", self._on_disconnected)
        await self.room.connect(self._settings.url, token)
        for participant in self.room.remote_participants.values():
            self._on_participant(participant)
        track = rtc.LocalAudioTrack.create_audio_track("caller", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)
        self._spawn(self._publish(), "caller-audio")

    def push_caller(self, pcm: bytes) -> None:
        """Queue caller audio (8 kHz s16le) for the publisher, in 10 ms chunks at 16 kHz."""
        samples = len(pcm) // 2
        if not samples:
            return
        if self._fir:
            self._pending += self._up.push(pcm)
        else:
            frames = self._upsample.push(rtc.AudioFrame(pcm, SAMPLE_RATE, 1, samples))
            self._pending += b"".join(bytes(f.data) for f in frames)
        while len(self._pending) >= CHUNK_BYTES:
            chunk, self._pending = self._pending[:CHUNK_BYTES], self._pending[CHUNK_BYTES:]
            # Real-time in, real-time out: a backlog from one burst would stay for the rest
            # of the call. Above the target depth, skip quiet chunks to win the time back.
            if len(self._inbox) >= TARGET_INBOX_CHUNKS and quiet(chunk):
                self.dropped += 1
                continue
            self._inbox.append(chunk)
        while len(self._inbox) > MAX_INBOX_CHUNKS:
            self._inbox.popleft()  # the carrier ran far ahead (a burst after a stall)
            self.dropped += 1

    async def _publish(self) -> None:
        """Keep the source's queue full, clocked by LiveKit's real-time consumer.

        Pushing frames as they arrive from the socket let every late frame become a gap
        in the agent's audio (the agent's STT then misheard flite questions). Here the
        native queue's backpressure paces us; a late frame costs one chunk of silence,
        and the frames behind it wait in the inbox, which absorbs the next jitter as well.
        """
        silence = bytes(CHUNK_BYTES)
        while True:
            if self._inbox:
                chunk = self._inbox.popleft()
            else:
                chunk = silence
                self.underruns += 1
            await self._source.capture_frame(
                rtc.AudioFrame(chunk, PUBLISH_RATE, 1, CHUNK_BYTES // 2)
            )

    async def dtmf(self, digit: str) -> None:
        code = DTMF_CODES.get(digit.upper())
        if code is None:
            logger.info("ignored an unknown DTMF digit", extra={"room": self.room_name})
            return
        await self.room.local_participant.publish_dtmf(code=code, digit=digit.upper())

    async def close(self, *, delete_room: bool) -> None:
        """Leave; deleting the room ends the agent's job at once (the carrier hung up)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(RuntimeError):
            await self.room.disconnect()
        if delete_room:
            try:
                await self._lkapi.room.delete_room(api.DeleteRoomRequest(room=self.room_name))
            except api.TwirpError as err:
                # already gone (the agent deleted it): nothing left to end
                logger.info("room delete: %s", err.code, extra={"room": self.room_name})
        await self._source.aclose()

    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self._agent_seen = True
            self._set_state(participant.attributes.get(ATTR_AGENT_STATE, ""))

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and not self._closed:
            self._events.ended("agent left")

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if (
            ATTR_AGENT_STATE in changed
            and isinstance(participant, rtc.RemoteParticipant)
            and participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ):
            self._set_state(changed[ATTR_AGENT_STATE])

    def _set_state(self, state: str) -> None:
        if state and state != self._agent_state:
            previous, self._agent_state = self._agent_state, state
            self._events.agent_state(previous, state)

    def _on_disconnected(self, reason: object) -> None:
        if not self._closed:
            self._events.ended("room closed")

    def _on_track(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if (
            track.kind == rtc.TrackKind.KIND_AUDIO
            and participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ):
            self._spawn(self._pull(track), "agent-audio")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name}-{self.room_name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pull(self, track: rtc.Track) -> None:
        convert: Callable[[bytes], bytes]
        if self._fir:  # 10 ms at 48 kHz as Opus decodes it, down to 8 kHz here (1.25 ms)
            stream = rtc.AudioStream(
                track, sample_rate=SUBSCRIBE_RATE, num_channels=1, frame_size_ms=10
            )
            convert = Downsampler6x().push
        else:  # livekit resamples to 8 kHz and cuts the 20 ms frames itself
            stream = rtc.AudioStream(
                track, sample_rate=SAMPLE_RATE, num_channels=1, frame_size_ms=20
            )
            convert = bytes
        size, pending = FRAME_SAMPLES * 2, b""
        try:
            async for event in stream:
                pending += convert(bytes(event.frame.data))
                while len(pending) >= size:  # a 20 ms frame leaves as soon as it is full
                    self._events.agent_frame(pending[:size])
                    pending = pending[size:]
        finally:
            await stream.aclose()
