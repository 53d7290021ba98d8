"""One scripted phone conversation: dial, hear the greeting, ask, hear the answer, hang up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from devstack.sipua.audio import Utterance, next_utterance
from devstack.sipua.ua import Call, SipUA


@dataclass
class Conversation:
    """Timings in seconds (None: did not happen) and what the caller heard."""

    invite_to_ok: float
    invite_to_greeting: float | None = None
    speech_end_to_answer: float | None = None
    greeting: Utterance | None = None
    answer: Utterance | None = None
    recording: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    call: Call | None = None
    error: str | None = None  # why it stopped early (with partial=True)


async def wait_played(call: Call) -> float:
    """Wait until the queued audio went out; the loop time its last loud packet was sent."""
    while call.rtp.playing:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.02)
    return call.rtp.speech_ended_at


async def converse(
    ua: SipUA,
    uri: str,
    question: np.ndarray | None,
    *,
    caller: str,
    timeout: float = 60,
    hang_up: bool = True,
    partial: bool = False,
) -> Conversation:
    """Call `uri`, wait for the greeting, ask `question` (8 kHz audio) and wait for the answer.

    With `partial`, an answered call whose greeting or answer never comes is returned with
    `error` set instead of raising (a benchmark counts how far each call got).
    """
    call = await ua.invite(uri, caller=caller)
    conv = Conversation(invite_to_ok=call.answered_at - call.invite_at, call=call)
    try:
        conv.greeting = await next_utterance(call.rtp, call.answered_at, timeout, call.ended)
        conv.invite_to_greeting = conv.greeting.start - call.invite_at
        if question is not None:
            conv.answer = await ask(call, question, lambda _: True, tries=1, timeout=timeout)
            conv.speech_end_to_answer = conv.answer.start - call.rtp.speech_ended_at
    except (TimeoutError, ConnectionError) as err:
        if not partial:
            raise
        conv.error = repr(err)
    finally:
        conv.recording = call.rtp.recording()
        if hang_up:
            await call.bye()
            await call.close()
    return conv


PAUSE_S = 1.0  # a caller lets the agent finish before speaking


async def ask(
    call: Call,
    question: np.ndarray,
    accept: Callable[[Utterance], bool],
    *,
    tries: int = 3,
    timeout: float = 60,
    pause: float = PAUSE_S,
) -> Utterance:
    """Ask, and like a caller who was misheard, ask again while the answer is not accepted.

    Speech that starts within a few hundred ms of the agent's last word loses its first
    words at the agent ("are you open on Monday" heard as "but on Monday"), so like a
    person the caller pauses first.
    """
    answer: Utterance | None = None
    for _ in range(tries):
        await asyncio.sleep(pause)
        call.rtp.play(question)
        spoke_until = await wait_played(call)
        try:
            answer = await next_utterance(call.rtp, spoke_until, timeout, call.ended)
        except ConnectionError:
            if answer is None:
                raise
            break  # the far end hung up: the previous answer is the last one
        if call.ended.is_set() or accept(answer):
            break
    assert answer is not None
    return answer
