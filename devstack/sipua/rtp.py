"""RTP with PCMU (G.711 μ-law, 8 kHz, 20 ms packets): paced sending and a timed recording."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 8000
PTIME = 0.02
SAMPLES = int(RATE * PTIME)  # 160 samples per packet
PCMU = 0
SPEECH_RMS = 300.0  # int16 RMS above which a packet counts as speech
_BIAS, _CLIP = 0x84, 32635


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> G.711 μ-law bytes."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law bytes -> int16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Linear-interpolation resampling (speech between 8 and 16 kHz; a box filter on the way
    down keeps aliasing out of pocketsphinx's band)."""
    if src == dst or pcm.size == 0:
        return pcm.astype(np.int16)
    x = pcm.astype(np.float64)
    if dst < src and src % dst == 0:
        k = src // dst
        x = x[: x.size - x.size % k].reshape(-1, k).mean(axis=1)
        return np.clip(x, -32768, 32767).astype(np.int16)
    n = round(x.size * dst / src)
    out = np.interp(np.arange(n) * src / dst, np.arange(x.size), x)
    return np.clip(out, -32768, 32767).astype(np.int16)


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit WAV as 8 kHz int16 samples."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            pcm = pcm.reshape(-1, w.getnchannels())[:, 0]
        return resample(pcm, w.getframerate(), RATE)


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype(np.int16).tobytes())


def loud(pcm: np.ndarray) -> bool:
    return bool(pcm.size) and float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > SPEECH_RMS


async def bind_udp(
    protocol: asyncio.DatagramProtocol, host: str, port: int
) -> tuple[asyncio.DatagramTransport, int]:
    """A UDP endpoint for `protocol` on host:port (0: any free port), and the port it got."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, port))
    return transport, int(transport.get_extra_info("sockname")[1])


@dataclass
class Received:
    """One received packet: loop time of arrival and its decoded samples."""

    at: float
    pcm: np.ndarray


@dataclass
class RtpSession(asyncio.DatagramProtocol):
    """Sends our audio (silence when nothing is queued) and records what arrives."""

    host: str = "127.0.0.1"
    port: int = 0
    remote: tuple[str, int] | None = None
    received: list[Received] = field(default_factory=list)
    first_packet_at: float = 0.0
    first_speech_at: float = 0.0
    speech_ended_at: float = 0.0  # when the last queued loud sample went out
    packet: asyncio.Event = field(default_factory=asyncio.Event)
    _transport: asyncio.DatagramTransport | None = None
    _queue: list[np.ndarray] = field(default_factory=list)
    _sender: asyncio.Task[None] | None = None
    _seq: int = field(default_factory=lambda: secrets.randbelow(65536))
    _ts: int = field(default_factory=lambda: secrets.randbelow(2**31))
    _ssrc: int = field(default_factory=lambda: secrets.randbits(32))

    async def bind(self) -> RtpSession:
        self._transport, self.port = await bind_udp(self, self.host, self.port)
        return self

    def start(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_loop(), name="rtp-send")

    def play(self, pcm: np.ndarray) -> None:
        """Queue 8 kHz int16 audio; it plays after what is already queued."""
        self._queue.append(pcm.astype(np.int16))

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        silence = np.zeros(SAMPLES, dtype=np.int16)
        while True:
            frame = silence
            if self._queue:
                head = self._queue[0]
                frame, rest = head[:SAMPLES], head[SAMPLES:]
                if frame.size < SAMPLES:
                    frame = np.concatenate([frame, silence[: SAMPLES - frame.size]])
                if rest.size:
                    self._queue[0] = rest
                else:
                    self._queue.pop(0)
                if loud(frame):
                    self.speech_ended_at = loop.time() + PTIME
            self._send(ulaw_encode(frame))
            n += 1
            # paced on the loop clock from the start, so scheduling jitter never accumulates
            await asyncio.sleep(max(0.0, start + n * PTIME - loop.time()))

    def _send(self, payload: bytes) -> None:
        if self._transport is None or self.remote is None:
            return
        header = struct.pack("!BBHII", 0x80, PCMU, self._seq, self._ts, self._ssrc)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + SAMPLES) & 0xFFFFFFFF
        self._transport.sendto(header + payload, self.remote)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F != PCMU:
            return  # not RTP, or not PCMU (telephone-event, comfort noise)
        cc = data[0] & 0x0F
        payload = data[12 + 4 * cc :]
        now = asyncio.get_running_loop().time()
        pcm = ulaw_decode(payload)
        self.received.append(Received(now, pcm))
        self.first_packet_at = self.first_packet_at or now
        if loud(pcm) and not self.first_speech_at:
            self.first_speech_at = now
        self.packet.set()

    def speech_after(self, t: float) -> float:
        """Loop time of the first loud packet received after `t` (0 if none yet)."""
        return next((r.at for r in self.received if r.at > t and loud(r.pcm)), 0.0)

    def recording(self, since: float = 0.0) -> np.ndarray:
        """Everything received after `since`, as one 8 kHz int16 signal."""
        parts = [r.pcm for r in self.received if r.at > since]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
