"""Which of the agent's known lines a stretch of heard speech is: pocketsphinx on a closed grammar.

Free-form pocketsphinx hears flite through μ-law, Opus and two resamplers well on a quiet
machine ("hello thank you for calling the shots") and badly on a loaded one ("and if a poly
the shop"), so a keyword check on its transcript fails on audio that was right. Restricted to
the lines the agent can say, the decoder only has to tell them apart: a wrong line (another
call's audio, the fallback instead of the greeting) is still caught, a garbled right one is not
failed, and silence or noise matches nothing.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from switchboard_agent.local import PocketsphinxSTT

from tests.support.agent_configs import GREETING, SCRIPT

HOURS: str = SCRIPT["intents"][0]["reply"]
FALLBACK: str = SCRIPT["fallback"]
# Every line the test scripts make the agent say (agent_configs.SCRIPT and the greeting).
AGENT_LINES: tuple[str, ...] = (
    GREETING,
    *(intent["reply"] for intent in SCRIPT["intents"]),
    SCRIPT["fallback"],
)


def words(line: str) -> str:
    """A line as the grammar spells it: lowercase words, no punctuation."""
    return " ".join(re.findall(r"[a-z']+", line.lower()))


class LineMatcher:
    """`which(pcm16k)`: the one of `lines` that 16 kHz speech is, or None.

    The agent's own PocketsphinxSTT decodes, with a JSGF grammar in place of its language
    model (pocketsphinx reads the grammar from a file, kept for the matcher's lifetime)."""

    def __init__(self, lines: Iterable[str] = AGENT_LINES) -> None:
        self.lines = {words(line): line for line in lines}
        alternatives = " | ".join(f"( {w} )" for w in self.lines)
        self._dir = tempfile.TemporaryDirectory(prefix="switchboard-lines-")
        grammar = Path(self._dir.name) / "lines.gram"
        grammar.write_text(f"#JSGF V1.0;\ngrammar lines;\npublic <line> = {alternatives};\n")
        self._stt = PocketsphinxSTT(options={"jsgf": str(grammar), "loglevel": "FATAL"})

    def which(self, pcm16k: bytes) -> str | None:
        return self.lines.get(self._stt.transcribe_pcm16(pcm16k))


def speech_stretches(pcm16k: bytes, gap_s: float = 2.0, level: float = 300.0) -> list[bytes]:
    """16 kHz speech split where `gap_s` of quiet (20 ms frames under `level` RMS) falls:
    a capture of the agent's side becomes the greeting, each reply, in order. The gap is
    long because TTS on a loaded machine pauses mid-line ("slow audio generation")."""
    frames = np.frombuffer(pcm16k, dtype="<i2")[: len(pcm16k) // 640 * 320].reshape(-1, 320)
    loud = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) > level
    out: list[bytes] = []
    start, quiet = None, 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * 0.02 >= gap_s:
                out.append(frames[start : i - quiet + 1].tobytes())
                start, quiet = None, 0
    if start is not None:
        out.append(frames[start:].tobytes())
    return out
