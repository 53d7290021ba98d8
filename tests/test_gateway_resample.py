"""Unit tests of the gateway's low-latency resamplers: gain, delay, images, chunking."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from switchboard_gateway.resample import Downsampler6x, Upsampler2x

pytestmark = pytest.mark.unit


def tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype("<i2")


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def chunked(resampler: Upsampler2x | Downsampler6x, x: np.ndarray, size: int) -> np.ndarray:
    out = b"".join(resampler.push(x[i : i + size].tobytes()) for i in range(0, len(x), size))
    return np.frombuffer(out, dtype="<i2")


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_upsampler_passes_the_telephone_band(freq: float) -> None:
    x = tone(freq, 8000)
    y = chunked(Upsampler2x(), x, 160)
    assert len(y) == 2 * len(x)  # nothing held back
    assert rms(y[400:]) == pytest.approx(rms(x[200:]), rel=0.03)


def test_upsampler_suppresses_the_image_and_delays_1_5_ms() -> None:
    up = Upsampler2x()
    y = chunked(up, tone(1000.0, 8000), 160).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(y[800:] * np.hanning(len(y) - 800)))
    freqs = np.fft.rfftfreq(len(y) - 800, 1 / 16000)
    image = spectrum[np.abs(freqs - 7000) < 50].max()
    wanted = spectrum[np.abs(freqs - 1000) < 50].max()
    assert 20 * np.log10(image / wanted) < -60
    impulse = np.zeros(160, dtype="<i2")
    impulse[10] = 20000
    out = np.frombuffer(Upsampler2x().push(impulse.tobytes()), dtype="<i2")
    assert abs(int(np.argmax(out)) / 16000 - 20 / 16000 - up.delay_s) < 1 / 16000
    assert up.delay_s < 0.002


def test_downsampler_keeps_speech_rejects_aliases_and_is_chunk_independent() -> None:
    x = tone(1000.0, 48000)
    whole = np.frombuffer(Downsampler6x().push(x.tobytes()), dtype="<i2")
    parts = chunked(Downsampler6x(), x, 479)  # odd sizes: the decimation phase carries over
    assert np.array_equal(whole, parts)
    assert len(whole) == len(x) // 6
    assert rms(whole[100:]) == pytest.approx(rms(x[600:]), rel=0.03)
    alias = np.frombuffer(Downsampler6x().push(tone(6000.0, 48000).tobytes()), dtype="<i2")
    assert rms(alias[100:]) < rms(whole[100:]) / 1000  # 6 kHz would fold to 2 kHz: -60 dB


def test_soxr_holds_back_what_the_fir_does_not() -> None:
    """Why resample.py exists: livekit's VERY_HIGH resampler withholds ~89 ms of audio."""
    soxr = rtc.AudioResampler(8000, 16000, quality=rtc.AudioResamplerQuality.VERY_HIGH)
    x = tone(1000.0, 8000, 0.4)
    held = sum(
        len(bytes(f.data)) // 2
        for i in range(0, len(x), 160)
        for f in soxr.push(rtc.AudioFrame(x[i : i + 160].tobytes(), 8000, 1, 160))
    )
    assert (2 * len(x) - held) / 16000 > 0.05
    assert len(chunked(Upsampler2x(), x, 160)) == 2 * len(x)
