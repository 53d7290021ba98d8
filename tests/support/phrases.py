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
import threading
from collections.abc import Iterable

import pocketsphinx
from switchboard_agent.local.audio import widen_narrowband

from tests.support.agent_configs import GREETING, SCRIPT

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
    """`which(pcm16k)`: the one of `lines` that 16 kHz speech is, or None."""

    def __init__(self, lines: Iterable[str] = AGENT_LINES) -> None:
        self.lines = {words(line): line for line in lines}
        alternatives = " | ".join(f"( {w} )" for w in self.lines)
        self._grammar = f"#JSGF V1.0;\ngrammar lines;\npublic <line> = {alternatives};\n"
        self._decoder: pocketsphinx.Decoder | None = None
        self._lock = threading.Lock()

    def which(self, pcm16k: bytes) -> str | None:
        with self._lock:
            if self._decoder is None:
                self._decoder = pocketsphinx.Decoder(lm=None, loglevel="FATAL")
                self._decoder.add_jsgf_string("lines", self._grammar)
                self._decoder.activate_search("lines")
            decoder = self._decoder
            decoder.start_utt()
            decoder.process_raw(widen_narrowband(pcm16k, 16000), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        said = hyp.hypstr.strip() if hyp is not None else ""
        return self.lines.get(said)
