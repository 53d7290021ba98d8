"""Audio helpers shared by the local providers: frames to 16 kHz mono PCM."""

from __future__ import annotations

import numpy as np
from livekit import rtc


def to_mono_pcm16(frames: rtc.AudioFrame | list[rtc.AudioFrame], sample_rate: int) -> bytes:
    """Concatenate `frames`, downmix to mono and resample to `sample_rate` (s16le bytes)."""
    if isinstance(frames, list) and not frames:
        return b""
    frame = rtc.combine_audio_frames(frames)
    samples = np.frombuffer(bytes(frame.data), dtype=np.int16)
    if frame.num_channels > 1:
        samples = samples.reshape(-1, frame.num_channels).mean(axis=1).round().astype(np.int16)
    if frame.sample_rate == sample_rate:
        return samples.tobytes()
    mono = rtc.AudioFrame(
        data=samples.tobytes(),
        sample_rate=frame.sample_rate,
        num_channels=1,
        samples_per_channel=len(samples),
    )
    resampler = rtc.AudioResampler(frame.sample_rate, sample_rate, num_channels=1)
    out = [*resampler.push(mono), *resampler.flush()]
    return b"".join(bytes(f.data) for f in out)
