"""Offline TTS on the flite binary (Debian package `flite`; voice `slt` by default)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, tts, utils

SAMPLE_RATE = 16000  # every bundled 16 kHz flite voice (slt, rms, awb, kal16)
# flite starts every utterance with ~0.2 s of near-silence: cut it (time to first audio)
ONSET_LEVEL = 150
PRE_ROLL_SAMPLES = SAMPLE_RATE * 30 // 1000


def trim_leading_quiet(pcm: bytes) -> bytes:
    """Drop the quiet before the first sample above ONSET_LEVEL, keeping a 30 ms pre-roll."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > ONSET_LEVEL)
    if loud.size == 0:
        return pcm
    start = max(int(loud[0]) - PRE_ROLL_SAMPLES, 0)
    return samples[start:].tobytes()


class FliteTTS(tts.TTS[Literal["error"]]):
    """Non-streaming TTS: one flite process per sentence (the session tokenizes)."""

    def __init__(
        self,
        *,
        voice: str = "slt",
        binary: str = "flite",
        options: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        found = shutil.which(binary)
        if found is None:
            raise ValueError(f"flite binary {binary!r} not found (apt-get install flite)")
        self._binary = found
        self._voice = voice
        self._args = [a for k, v in sorted((options or {}).items()) for a in ("--setf", f"{k}={v}")]

    @property
    def model(self) -> str:
        return f"flite-{self._voice}"

    @property
    def provider(self) -> str:
        return "flite"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _FliteStream(tts=self, input_text=text, conn_options=conn_options)

    async def render_wav(self, text: str, out: Path) -> None:
        """Speak `text` into the WAV file `out`."""
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            text_file = Path(tmp) / "input.txt"
            text_file.write_text(text)
            proc = await asyncio.create_subprocess_exec(
                self._binary,
                "-voice",
                self._voice,
                *self._args,
                "-f",
                str(text_file),
                "-o",
                str(out),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
        if proc.returncode != 0:
            raise APIError(f"flite failed ({proc.returncode}): {err.decode(errors='replace')}")

    async def synthesize_pcm16(self, text: str) -> bytes:
        """Speak `text`: 16 kHz mono s16le PCM."""
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            out = Path(tmp) / "out.wav"
            await self.render_wav(text, out)
            with wave.open(str(out), "rb") as wav:
                if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
                    raise APIError(f"flite voice {self._voice!r} is not 16 kHz mono")
                return trim_leading_quiet(wav.readframes(wav.getnframes()))


class _FliteStream(tts.ChunkedStream):
    def __init__(self, *, tts: FliteTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._flite = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("flite_"),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        if self.input_text.strip():
            output_emitter.push(await self._flite.synthesize_pcm16(self.input_text))
        output_emitter.flush()
