"""Carrier test doubles: Twilio, Plivo and Telnyx as they call the gateway, message by message.

Each double does what its provider does on a real call: POST the signed answer webhook, read
the stream URL out of the returned XML, open the WebSocket, send its dialect's connected/start
messages, stream the caller's μ-law in 20 ms frames paced in real time, play the agent's frames
out of a buffer in real time (echoing marks/checkpoints when playback reaches them, dropping
the buffer on clear), and end with its own stop (or a socket close, for Plivo).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import aiohttp
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from switchboard_gateway import mulaw, signatures

from devstack.sipua.rtp import resample
from tests.support.carrier_messages import CarrierMessages
from tests.support.phrases import FALLBACK, LineMatcher

FRAME = mulaw.FRAME_SAMPLES
SILENCE_FRAME = bytes([mulaw.SILENCE]) * FRAME
SPEECH_RMS = 300.0


@dataclass
class Heard:
    """One stretch of agent speech as the caller heard it: 16 kHz PCM and when it began."""

    pcm16k: bytes
    started_at: float


@dataclass
class CarrierCall(CarrierMessages):
    """One call from a carrier double to the gateway."""

    provider: str
    gateway: str  # http://127.0.0.1:port (also the public URL the gateway signs against)
    namespace: str
    name: str
    secret: str = field(repr=False)  # auth token (Twilio/Plivo) or ed25519 private key seed
    caller: str = "+15550100200"
    called: str = "+15550100100"
    call_id: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    stream_id: str = field(default_factory=lambda: "MZ" + uuid.uuid4().hex)
    received: list[dict[str, Any]] = field(default_factory=list)
    heard: asyncio.Queue[Heard] = field(default_factory=asyncio.Queue)
    marks_echoed: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    speech: asyncio.Event = field(default_factory=asyncio.Event)  # agent speech began playing
    close_code: int | None = None
    first_media_at: float = 0.0
    speech_ended_at: float = 0.0
    said_at: float = 0.0  # when the first frame of the latest `say` went on the socket
    _saying: bool = False
    _session: aiohttp.ClientSession | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _seq: int = 0
    _chunk: int = 0
    _mic: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _playback: list[tuple[str, Any]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _current: list[bytes] = field(default_factory=list)
    _started: float = 0.0

    # -- the answer webhook ------------------------------------------------------------
    def answer_url(self) -> str:
        return f"{self.gateway}/v1/{self.provider}/{self.namespace}/{self.name}/answer"

    def webhook_form(self) -> dict[str, str]:
        if self.provider == "plivo":
            return {"CallUUID": self.call_id, "From": self.caller, "To": self.called}
        return {"CallSid": self.call_id, "From": self.caller, "To": self.called}

    def sign(self, form: dict[str, str], body: bytes) -> dict[str, str]:
        url = self.answer_url()
        if self.provider == "twilio":
            return {"X-Twilio-Signature": signatures.twilio_signature(self.secret, url, form)}
        if self.provider == "plivo":
            nonce = uuid.uuid4().hex
            sig = signatures.plivo_v3_signature(self.secret, url, form, nonce)
            return {"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": nonce}
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(self.secret))
        stamp = str(int(time.time()))
        sig = key.sign(stamp.encode() + b"|" + body)
        return {
            "telnyx-signature-ed25519": base64.b64encode(sig).decode(),
            "telnyx-timestamp": stamp,
        }

    async def post_answer(self, headers: dict[str, str] | None = None) -> tuple[int, str]:
        form = self.webhook_form()
        body = urlencode(form).encode()
        signed = self.sign(form, body) if headers is None else headers
        session = self._client()
        async with session.post(
            self.answer_url(),
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **signed},
        ) as resp:
            return resp.status, await resp.text()

    def stream_target(self, document: str) -> tuple[str, dict[str, str]]:
        """The stream URL and parameters the provider would read out of the answer XML."""
        root = ET.fromstring(document)
        if self.provider == "plivo":
            stream = root.find("Stream")
            assert stream is not None and stream.get("bidirectional") == "true", document
            headers = dict(
                kv.split("=", 1) for kv in (stream.get("extraHeaders") or "").split(",") if kv
            )
            return (stream.text or "").strip(), headers
        stream = root.find("Connect/Stream")
        assert stream is not None, document
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        return stream.get("url", ""), params

    # -- the stream ----------------------------------------------------------------------
    async def dial(self) -> CarrierCall:
        status, document = await self.post_answer()
        assert status == 200, (status, document)
        url, params = self.stream_target(document)
        await self.connect(url, params)
        return self

    async def connect(
        self, url: str, params: dict[str, str], start: bool = True, mic: bool = True
    ) -> None:
        """Open the socket; `start`: send the opening messages; `mic`: stream the caller."""
        self._ws = await self._client().ws_connect(url, autoping=True)
        self._started = time.monotonic()
        if start:
            for message in self.opening(params):
                await self.send(message)
        self._tasks += [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._speaker()),
        ]
        if mic:
            self._tasks.append(asyncio.create_task(self._mic_pump()))

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json(message)

    def say(self, pcm8k: np.ndarray) -> None:
        """Queue 8 kHz speech (devstack's flite_prompt, as the SIP UA speaks) for the mic."""
        ulaw = mulaw.encode(pcm8k.astype("<i2").tobytes())
        for i in range(0, len(ulaw), FRAME):
            self._mic.put_nowait(ulaw[i : i + FRAME].ljust(FRAME, bytes([mulaw.SILENCE])))
        self._mic.put_nowait(b"")  # marks the end of this utterance

    async def dtmf(self, digit: str) -> None:
        await self.send(self.dtmf_message(digit))

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio/Telnyx send stop, Plivo just closes the socket."""
        if self._ws is None or self._ws.closed:
            return
        if self.provider == "twilio":
            await self.send(
                {
                    "event": "stop",
                    "sequenceNumber": str(self._next_seq()),
                    "streamSid": self.stream_id,
                    "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_id},
                }
            )
        elif self.provider == "telnyx":
            await self.send(
                {
                    "event": "stop",
                    "sequence_number": str(self._next_seq()),
                    "stream_id": self.stream_id,
                    "stop": {"user_id": "u", "call_control_id": self.call_id},
                }
            )
        await self._ws.close()

    async def next_heard(self, timeout: float = 90) -> Heard:
        return await asyncio.wait_for(self.heard.get(), timeout)

    async def next_reply(self, timeout: float = 90, gap_s: float = 2.0) -> Heard:
        """The next stretch of speech and any that follows within `gap_s`, joined: on a loaded
        machine TTS audio can pause mid-sentence longer than an utterance's 0.8 s of quiet,
        and a transcript of the first piece alone misses most of the words."""
        first = await self.next_heard(timeout)
        pieces = [first.pcm16k]
        while True:
            try:
                pieces.append((await self.next_heard(gap_s)).pcm16k)
            except TimeoutError:
                return Heard(b"".join(pieces), first.started_at)

    async def ask(self, prompt: np.ndarray, lines: LineMatcher, tries: int = 4) -> str | None:
        """Say `prompt` until the agent's reply is a line other than its fallback; returns
        the line `lines` heard (None if no reply matched one).

        As the SIP tests do: flite through μ-law and Opus is not always heard right by
        pocketsphinx, and a misheard question gets the script's fallback. The reply is told
        apart on the closed grammar of the agent's lines, so a garbled right answer passes
        and a wrong one (another call's audio) still fails.
        """
        heard: str | None = None
        for _ in range(tries):
            # the agent ignores speech while its own is still playing out (and during its
            # AEC warm-up): a question that starts right after a reply can go unheard
            await asyncio.sleep(2.0)
            while not self.heard.empty():  # the tail of an earlier reply is not the answer
                self.heard.get_nowait()
            self.say(prompt)
            try:
                utterance = await self.next_reply(timeout=30)
            except TimeoutError:
                continue
            heard = lines.which(utterance.pcm16k)
            if heard not in (None, FALLBACK):
                return heard
        return heard

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _mic_pump(self) -> None:
        """20 ms of μ-law every 20 ms on a monotonic clock: speech when queued, else silence."""
        clock = time.monotonic()
        while self._ws is not None and not self._ws.closed:
            frame = SILENCE_FRAME
            if not self._mic.empty():
                frame = self._mic.get_nowait()
                if not frame:
                    self.speech_ended_at = time.monotonic()
                    self._saying = False
                    frame = SILENCE_FRAME
                elif not self._saying:
                    self._saying, self.said_at = True, time.monotonic()
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await self.send(self.media_message(frame))
            clock += 0.020
            await asyncio.sleep(max(0.0, clock - time.monotonic()))

    async def _receive(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            message = msg.json()
            self.received.append({**message, "_at": time.monotonic()})
            event = message.get("event")
            if event in ("media", "playAudio"):
                if not self.first_media_at:
                    self.first_media_at = time.monotonic()
                payload = base64.b64decode(message["media"]["payload"])
                self._playback.append(("audio", payload))
            elif event in ("mark", "checkpoint"):
                name = message["mark"]["name"] if event == "mark" else message["name"]
                self._playback.append(("mark", name))
            elif event in ("clear", "clearAudio"):
                # the carrier drops unplayed audio and (Twilio) returns the pending marks
                pending = [item for kind, item in self._playback if kind == "mark"]
                self._playback.clear()
                for name in pending:
                    await self._echo(name)
                if event == "clearAudio":
                    await self.send(
                        {
                            "event": "clearedAudio",
                            "streamId": self.stream_id,
                            "sequenceNumber": self._next_seq(),
                        }
                    )
        self.close_code = self._ws.close_code
        self.closed.set()
        self._flush()

    async def _echo(self, name: str) -> None:
        self.marks_echoed.append(name)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.send(self.mark_echo(name))

    async def _speaker(self) -> None:
        """Play the buffer in real time (the caller's ear); split speech at 0.8 s of quiet."""
        clock, quiet = time.monotonic(), 0.0
        while True:
            clock += 0.020
            await asyncio.sleep(max(0.0, clock - time.monotonic()))
            while self._playback and self._playback[0][0] == "mark":
                await self._echo(self._playback.pop(0)[1])
            if not self._playback:
                if self._current:
                    quiet += 0.020
                    if quiet >= 0.8:
                        self._flush()
                continue
            payload = self._playback.pop(0)[1]
            pcm = mulaw.decode(payload)
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            loud = samples.size and float(np.sqrt(np.mean(samples**2))) > SPEECH_RMS
            if loud:
                if not self._current:
                    self._first = time.monotonic()
                    self.speech.set()
                quiet = 0.0
                self._current.append(pcm)
            elif self._current:
                quiet += 0.020
                self._current.append(pcm)
                if quiet >= 0.8:
                    self._flush()

    _first: float = 0.0

    def _flush(self) -> None:
        if self._current:
            pcm8k = np.frombuffer(b"".join(self._current), dtype="<i2")
            pcm16k = resample(pcm8k, 8000, 16000).astype("<i2").tobytes()  # pocketsphinx: 16 kHz
            self.heard.put_nowait(Heard(pcm16k, self._first))
            self._current = []
