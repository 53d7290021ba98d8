"""Streaming pocketsphinx: decode while the caller speaks, so the transcript is ready at once.

The VAD segments the audio (like livekit's StreamAdapter), but instead of decoding the whole
utterance after END_OF_SPEECH, every window is fed to the decoder as it arrives; the end of
speech only finishes the utterance. That takes the decoding time off the critical path.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils, vad
from livekit.agents.language import LanguageCode

if TYPE_CHECKING:
    from switchboard_agent.local.pocketsphinx_stt import PocketsphinxSTT

SAMPLE_RATE = 16000


def _pcm(frames: list[rtc.AudioFrame]) -> bytes:
    return b"".join(bytes(f.data) for f in frames)


class PocketsphinxStream(stt.RecognizeStream):
    """VAD-segmented, incrementally decoded recognition (16 kHz mono input)."""

    def __init__(
        self, *, owner: PocketsphinxSTT, vad: vad.VAD, language: str, conn: APIConnectOptions
    ) -> None:
        super().__init__(stt=owner, conn_options=conn, sample_rate=SAMPLE_RATE)
        self._owner = owner
        self._vad = vad
        self._language = language
        self._in_utt = False

    async def _run(self) -> None:
        vad_stream = self._vad.stream()

        async def forward() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                else:
                    vad_stream.push_frame(item)
            vad_stream.end_input()

        async def recognize() -> None:
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH and not self._in_utt:
                    self._in_utt = True
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                    await asyncio.to_thread(self._owner.begin, _pcm(ev.frames))
                elif ev.type == vad.VADEventType.INFERENCE_DONE and self._in_utt and ev.speaking:
                    await asyncio.to_thread(self._owner.feed, _pcm(ev.frames))
                elif ev.type == vad.VADEventType.END_OF_SPEECH and self._in_utt:
                    self._in_utt = False
                    end = time.time() - ev.silence_duration - ev.inference_duration
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=end)
                    )
                    text = await asyncio.to_thread(self._owner.finish)
                    if text:
                        self._event_ch.send_nowait(self._final(text, end))

        tasks = [asyncio.create_task(forward()), asyncio.create_task(recognize())]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
            if self._in_utt:  # closed mid-utterance: release the decoder
                self._in_utt = False
                await asyncio.to_thread(self._owner.finish)

    def _final(self, text: str, end: float) -> stt.SpeechEvent:
        data = stt.SpeechData(language=LanguageCode(self._language), text=text, confidence=1.0)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("ps_"),
            alternatives=[data],
            speech_end_time=end,
        )
