"""Offline STT on pocketsphinx (the PyPI wheel's bundled US-English model)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Literal

import pocketsphinx
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    stt,
    utils,
)
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.vad import VAD

from switchboard_agent.local.audio import to_mono_pcm16, widen_narrowband
from switchboard_agent.local.pocketsphinx_stream import PocketsphinxStream

SAMPLE_RATE = 16000
SUPPORTED_LANGUAGES = ("en", "en-US")


class PocketsphinxSTT(stt.STT[Literal["error"]]):
    """pocketsphinx as an `stt.STT`; decoding runs in a thread.

    With a `vad` it streams: audio is decoded while the caller speaks and the transcript
    is final as soon as the VAD hears the end of speech. Without one it is a batch STT
    that the session wraps in livekit's StreamAdapter (decoding after the end of speech).
    """

    def __init__(
        self,
        *,
        language: str = "en-US",
        options: Mapping[str, str] | None = None,
        vad: VAD | None = None,
    ) -> None:
        caps = stt.STTCapabilities(streaming=vad is not None, interim_results=False)
        super().__init__(capabilities=caps)
        self._vad = vad
        if language not in SUPPORTED_LANGUAGES:
            raise ValueError(f"pocketsphinx ships US English only, not {language!r}")
        self._language = language
        self._options = dict(options or {})
        self._decoder: pocketsphinx.Decoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return "pocketsphinx-en-us"

    @property
    def provider(self) -> str:
        return "pocketsphinx"

    def load(self) -> None:
        """Load the acoustic model now (prewarm) instead of on the first utterance."""
        with self._lock:
            self._ensure_decoder()

    def _ensure_decoder(self) -> pocketsphinx.Decoder:
        if self._decoder is None:
            self._decoder = pocketsphinx.Decoder(**self._options)
        return self._decoder

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        if self._vad is None:
            return super().stream(language=language, conn_options=conn_options)
        return PocketsphinxStream(
            owner=self, vad=self._vad, language=self._language, conn=conn_options
        )

    # incremental decoding (blocking; one utterance at a time, under the lock)
    def begin(self, pcm: bytes) -> None:
        self._lock.acquire()
        decoder = self._ensure_decoder()
        decoder.start_utt()
        decoder.process_raw(widen_narrowband(pcm, SAMPLE_RATE), full_utt=False)

    def feed(self, pcm: bytes) -> None:
        self._ensure_decoder().process_raw(widen_narrowband(pcm, SAMPLE_RATE), full_utt=False)

    def finish(self) -> str:
        try:
            decoder = self._ensure_decoder()
            decoder.end_utt()
            hyp = decoder.hyp()
            return hyp.hypstr.strip() if hyp is not None else ""
        finally:
            self._lock.release()

    def transcribe_pcm16(self, pcm: bytes) -> str:
        """Blocking: the best hypothesis for 16 kHz mono s16le `pcm` ('' for silence)."""
        with self._lock:
            decoder = self._ensure_decoder()
            decoder.start_utt()
            decoder.process_raw(widen_narrowband(pcm, SAMPLE_RATE), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            return hyp.hypstr.strip() if hyp is not None else ""

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        pcm = to_mono_pcm16(buffer, SAMPLE_RATE)
        text = await asyncio.to_thread(self.transcribe_pcm16, pcm) if pcm else ""
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("ps_"),
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode(self._language),
                    text=text,
                    end_time=len(pcm) / 2 / SAMPLE_RATE,
                    confidence=1.0 if text else 0.0,
                )
            ],
        )
