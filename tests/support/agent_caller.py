"""A test caller: a livekit rtc participant that speaks flite audio and records the agent."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import numpy as np
from livekit import api, rtc
from switchboard_agent.local import FliteTTS, PocketsphinxSTT

RATE = 16000
FRAME = RATE // 100  # 10 ms
SPEECH_RMS = 300.0  # int16 RMS above which a 10 ms frame counts as speech


def caller_token(
    key: str, secret: str, room: str, identity: str, attributes: dict[str, str] | None = None
) -> str:
    token = api.AccessToken(key, secret).with_identity(identity).with_name("test caller")
    if attributes:
        token = token.with_attributes(attributes)
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    return token.with_grants(grants).to_jwt()


@dataclass
class Utterance:
    """One stretch of agent speech: its audio and when it started (monotonic seconds)."""

    pcm: bytes
    started_at: float
    first_frame_at: float


@dataclass
class SimCaller:
    """Publishes a mic track (silence unless speaking); segments the agent's audio."""

    url: str
    token: str
    room: rtc.Room = field(default_factory=rtc.Room)
    utterances: asyncio.Queue[Utterance] = field(default_factory=asyncio.Queue)
    agent_joined: asyncio.Event = field(default_factory=asyncio.Event)
    agent_joined_at: float = 0.0
    agent_audio: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    speech_ended_at: float = 0.0
    _source: rtc.AudioSource | None = None
    _say: asyncio.Queue[tuple[bytes, float]] = field(default_factory=asyncio.Queue)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _current: list[bytes] = field(default_factory=list)
    _first: float = 0.0

    async def connect(self) -> SimCaller:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_connected", self._on_participant)
        self.room.on("disconnected", lambda *_: (self._flush(), self.disconnected.set()))
        self.room.on("track_unsubscribed", lambda *_: self._flush())
        await self.room.connect(self.url, self.token)
        for p in self.room.remote_participants.values():
            self._on_participant(p)
        self._source = rtc.AudioSource(RATE, 1, queue_size_ms=50)
        track = rtc.LocalAudioTrack.create_audio_track("mic", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, opts)
        self._tasks.append(asyncio.create_task(self._pump()))
        return self

    def _on_participant(self, p: rtc.RemoteParticipant) -> None:
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and not self.agent_joined.is_set():
            self.agent_joined_at = asyncio.get_running_loop().time()
            self.agent_joined.set()

    def _on_track(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(asyncio.create_task(self._record(track)))

    async def _pump(self) -> None:
        """Stream the mic in real time: queued speech, else silence."""
        assert self._source is not None
        loop = asyncio.get_running_loop()
        silence = bytes(FRAME * 2)
        pending, tail = b"", 0.0
        while True:
            if not pending and not self._say.empty():
                pending, tail = self._say.get_nowait()
            if pending:
                chunk, pending = pending[: FRAME * 2], pending[FRAME * 2 :]
                chunk += bytes(FRAME * 2 - len(chunk))
                await self._source.capture_frame(rtc.AudioFrame(chunk, RATE, 1, FRAME))
                if not pending:  # last frame queued: the voice ended `tail` s before it plays
                    played = loop.time() + self._source.queued_duration
                    self.speech_ended_at = played - tail
            else:
                await self._source.capture_frame(rtc.AudioFrame(silence, RATE, 1, FRAME))

    async def _record(self, track: rtc.Track, silence_gap: float = 0.8) -> None:
        """Split the agent's audio into utterances at `silence_gap` seconds of quiet."""
        loop = asyncio.get_running_loop()
        quiet = 0.0
        async for ev in rtc.AudioStream(track, sample_rate=RATE, num_channels=1):
            data = bytes(ev.frame.data)
            loud = _loud(data)
            if loud:
                self.agent_audio.set()
                if not self._current:
                    self._first = loop.time()
                quiet = 0.0
                self._current.append(data)
            elif self._current:
                self._current.append(data)
                quiet += ev.frame.samples_per_channel / RATE
                if quiet >= silence_gap:
                    self._flush()
        self._flush()

    def _flush(self) -> None:
        """End the current utterance (silence, or the agent's track/room went away)."""
        if self._current:
            self.utterances.put_nowait(Utterance(b"".join(self._current), self._first, self._first))
            self._current = []

    async def say(self, text: str, tts: FliteTTS) -> None:
        """Speak `text` (flite) into the mic, followed by silence."""
        pcm = await tts.synthesize_pcm16(text)
        await self._say.put((pcm, trailing_quiet(pcm)))

    async def next_utterance(self, timeout: float = 120) -> Utterance:
        return await asyncio.wait_for(self.utterances.get(), timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.room.disconnect()


def _loud(frame: bytes) -> bool:
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float64)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > SPEECH_RMS


def trailing_quiet(pcm: bytes) -> float:
    """Seconds of quiet after the last loud 10 ms frame of `pcm` (16 kHz mono s16le)."""
    frames = [pcm[i : i + FRAME * 2] for i in range(0, len(pcm), FRAME * 2)]
    quiet = 0
    for frame in reversed(frames):
        if _loud(frame):
            break
        quiet += 1
    return quiet * 0.01


def transcribe(pcm: bytes, stt: PocketsphinxSTT) -> str:
    return stt.transcribe_pcm16(pcm).lower()
