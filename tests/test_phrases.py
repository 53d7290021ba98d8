"""unit: the closed-grammar line matcher the call tests check heard speech with."""

from __future__ import annotations

import numpy as np
import pytest

from devstack.sipua.audio import flite_prompt
from devstack.sipua.rtp import resample
from tests.support.phrases import AGENT_LINES, LineMatcher

pytestmark = pytest.mark.unit


def spoken(text: str, voice: str = "slt") -> np.ndarray:
    """`text` as the agent's flite voice says it, at 16 kHz."""
    return resample(flite_prompt(text, voice=voice), 8000, 16000).astype(np.float64)


def pcm(x: np.ndarray) -> bytes:
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def matcher() -> LineMatcher:
    return LineMatcher()


@pytest.mark.parametrize("line", AGENT_LINES)
def test_each_line_is_told_apart_even_with_a_gap_and_dropouts(
    matcher: LineMatcher, line: str
) -> None:
    x = spoken(line)
    assert matcher.which(pcm(x)) == line
    # as on a loaded machine: a 1 s pause mid-sentence, 20 ms lost in every 200 ms
    half = x.size // 2
    paused = np.concatenate([x[:half], np.zeros(16000), x[half:]])
    for i in range(0, paused.size, 3200):
        paused[i : i + 320] = 0
    assert matcher.which(pcm(paused)) == line


def test_silence_noise_and_other_speech_match_no_line(matcher: LineMatcher) -> None:
    noise = np.random.default_rng(1).normal(0, 3000, 32000)
    assert matcher.which(bytes(32000)) is None
    assert matcher.which(pcm(noise)) is None
    assert matcher.which(pcm(spoken("Are you open on Monday?", voice="rms"))) is None
