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


NARROWBAND_HZ = 4000  # a phone line (G.711) carries nothing above this
NARROWBAND_DB = -45.0  # upper-band share of the energy below which audio counts as narrowband


def widen_narrowband(pcm: bytes, sample_rate: int = 16000) -> bytes:
    """Give band-limited phone audio an upper band (spectral folding) for a wideband model.

    pocketsphinx's bundled model is 16 kHz only. Phone audio that reaches the room upsampled
    without images (livekit-sip's resampler) leaves its upper mel filters empty, and their
    log energies, never seen in training, wreck recognition: "are you open on Monday" comes
    out as "are you up and i i mean". Going down to 8 kHz and back up with linear
    interpolation folds a damped mirror of the speech band into 4-8 kHz, as a cheap
    resampler would, and recognition recovers. Wideband audio is returned unchanged.
    """
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    if x.size < 64 or not _is_narrowband(x, sample_rate):
        return pcm
    even = x[: x.size - x.size % 2]
    down = even.reshape(-1, 2).mean(axis=1)
    up = np.interp(np.arange(x.size) / 2, np.arange(down.size), down)
    return bytes(np.clip(np.round(up), -32768, 32767).astype(np.int16).tobytes())


def _is_narrowband(x: np.ndarray, sample_rate: int) -> bool:
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    total = float(power.sum())
    if total <= 0.0:
        return False  # digital silence: nothing to widen
    freqs = np.fft.rfftfreq(x.size, 1 / sample_rate)
    upper = float(power[freqs >= NARROWBAND_HZ].sum())
    return upper <= 0.0 or 10 * np.log10(upper / total) < NARROWBAND_DB
