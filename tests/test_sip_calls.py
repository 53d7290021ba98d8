"""Phone calls end to end: a SIP UA calls an operator-managed number and the agent answers."""

from __future__ import annotations

import asyncio

import pytest

from devstack.sipua.audio import Transcriber, flite_prompt, next_utterance
from devstack.sipua.ua import SipUA
from tests.fixtures.kube import wait_for
from tests.support.sip_stack import CALLER, SipStack, sip_trunk, voice_agent
from tests.support.voiceagent_stack import NUMBER

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def transcribe() -> Transcriber:
    return Transcriber()


async def test_answered_call_greets_and_answers(
    sip_stack: SipStack, sip_ua: SipUA, transcribe: Transcriber
) -> None:
    """INVITE -> 200 OK; the caller hears the greeting, asks for the hours, hears the answer."""
    sip_stack.apply(sip_trunk(), voice_agent())
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    greeting = await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    assert "thank you for calling" in transcribe(greeting.pcm), transcribe(greeting.pcm)
    call.rtp.play(flite_prompt("What are your opening hours?"))
    await asyncio.sleep(0.1)
    while call.rtp.playing:
        await asyncio.sleep(0.05)
    answer = await next_utterance(call.rtp, call.rtp.speech_ended_at, 60, call.ended)
    heard = transcribe(answer.pcm)
    assert "nine" in heard or "five" in heard or "monday" in heard, heard
    assert await call.bye() == 200
    wait_for(lambda: sip_stack.workers[0].worker_info().get("active_jobs", 0) == 0, "slot freed")
