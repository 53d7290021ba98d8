"""What the caller hears: the received RTP split into utterances, flite prompts, transcripts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devstack.sipua.rtp import PTIME, RATE, Received, RtpSession, loud, read_wav, resample

GAP_S = 0.8  # this much quiet ends an utterance (flite pauses are shorter between words)
PRE_ROLL = 15  # quiet packets kept before speech: pocketsphinx needs some silence first


@dataclass(frozen=True)
class Utterance:
    """A stretch of received speech; times are event-loop seconds of packet arrival."""

    start: float
    end: float
    pcm: np.ndarray


def utterances(received: list[Received], after: float = 0.0, gap: float = GAP_S) -> list[Utterance]:
    """Split the packets that arrived after `after` at `gap` seconds of quiet (complete only)."""
    out: list[Utterance] = []
    current: list[Received] = []
    before: list[Received] = []
    quiet = 0.0
    for r in received:
        if r.at <= after:
            continue
        if loud(r.pcm):
            if not current:
                current, before = before[-PRE_ROLL:], []
                start = len(current)
            current.append(r)
            quiet = 0.0
        elif not current:
            before.append(r)
        else:
            current.append(r)
            quiet += PTIME
            if quiet >= gap:
                out.append(_utterance(current, start, quiet))
                current, quiet = [], 0.0
    return out


def _utterance(packets: list[Received], start: int, trailing_quiet: float) -> Utterance:
    n = max(1, round(trailing_quiet / PTIME))
    speech = packets[start:-n] or packets[start:]
    return Utterance(speech[0].at, speech[-1].at, np.concatenate([p.pcm for p in packets]))


async def next_utterance(
    rtp: RtpSession,
    after: float,
    timeout: float,
    ended: asyncio.Event | None = None,
    gap: float = GAP_S,
) -> Utterance:
    """Wait for the first complete utterance that starts after `after`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = utterances(rtp.received, after, gap)
        if found:
            return found[0]
        if ended is not None and ended.is_set():
            # the far end hung up mid-utterance: what arrived is all there is
            found = utterances([*rtp.received, *_silence_after(rtp, gap)], after, gap)
            if found:
                return found[0]
            raise ConnectionError("the call ended before the agent spoke")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no utterance from the agent within {timeout:.0f}s")


def _silence_after(rtp: RtpSession, gap: float) -> list[Received]:
    last = rtp.received[-1].at if rtp.received else 0.0
    zeros = np.zeros(int(RATE * PTIME), dtype=np.int16)
    return [Received(last + (i + 1) * PTIME, zeros) for i in range(int(gap / PTIME) + 1)]


CALLER_VOICE = "rms"  # through PCMU and Opus, pocketsphinx hears rms far better than slt


def flite_prompt(text: str, voice: str = CALLER_VOICE) -> np.ndarray:
    """`text` spoken by flite, as 8 kHz int16 (what a phone line carries)."""
    binary = shutil.which("flite")
    if binary is None:
        raise FileNotFoundError("flite not installed (apt-get install flite; `make tools`)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prompt.wav"
        subprocess.run([binary, "-voice", voice, "-t", text, "-o", str(out)], check=True)
        return read_wav(out)


class Transcriber:
    """pocketsphinx (the agent's offline STT) on 8 kHz phone audio."""

    def __init__(self) -> None:
        from switchboard_agent.local import PocketsphinxSTT  # noqa: PLC0415 (heavy import)

        self._stt = PocketsphinxSTT()
        self._stt.load()

    def __call__(self, pcm: np.ndarray) -> str:
        return str(self._stt.transcribe_pcm16(resample(pcm, RATE, 16000).tobytes())).lower()
