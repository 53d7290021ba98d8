"""Phone calls end to end: a SIP UA calls an operator-managed number and the agent answers."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from devstack.sipua.audio import Utterance, flite_prompt, next_utterance
from devstack.sipua.dialog import ask
from devstack.sipua.rtp import resample
from devstack.sipua.ua import SipUA
from tests.support.kube import wait_for
from tests.support.phrases import AGENT_LINES, LineMatcher
from tests.support.sip_stack import (
    CALLER,
    GREETING,
    HOURS_REPLY,
    QUESTION,
    TRANSFER_URI,
    SipStack,
    phone_script,
    sip_trunk,
    voice_agent,
)
from tests.support.voiceagent_stack import NUMBER

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]


class Heard:
    """Which of the agent's lines a phone utterance is (the closed grammar of
    tests.support.phrases, with this file's fallback): a garbled right line on a loaded
    machine passes, a wrong line or noise does not."""

    def __init__(self) -> None:
        self.lines = LineMatcher((*AGENT_LINES, FALLBACK))

    def __call__(self, utterance: Utterance) -> str | None:
        pcm16k = resample(utterance.pcm, 8000, 16000).astype("<i2").tobytes()
        return self.lines.which(pcm16k)

    def understood(self, utterance: Utterance) -> bool:
        """A line, and not the script's fallback: the question was heard."""
        return self(utterance) not in (None, FALLBACK)


FALLBACK = phone_script()["fallback"]


@pytest.fixture(scope="module")
def heard() -> Heard:
    return Heard()


def raw_number_leaks(stack: SipStack) -> list[str]:
    """Where the caller's raw number shows up: operator and worker logs, events, status."""
    digits = CALLER.lstrip("+")
    events = stack.kube.core.list_namespaced_event(stack.kube.namespace).items
    places = {
        "operator log": stack.ops.op.text(),
        "status": str(stack.status()),
        "events": str(events),
    }
    places.update({f"worker log {w.workdir.name}": w.log() for w in stack.workers})
    return [where for where, text in places.items() if digits in text]


async def test_answered_call_greets_answers_and_frees_the_slot(
    sip_stack: SipStack, sip_ua: SipUA, heard: Heard
) -> None:
    """INVITE -> 200 OK; greeting, question, scripted answer; caller BYE frees everything."""
    sip_stack.apply(sip_trunk(), voice_agent())
    worker = sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    greeting = await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    assert heard(greeting) == GREETING
    answer = await ask(call, flite_prompt(QUESTION), heard.understood, tries=5)
    assert heard(answer) == HOURS_REPLY
    wait_for(lambda: sip_stack.status().get("activeCalls") == 1, "the operator counts the call")
    assert await call.bye() == 200
    wait_for(lambda: worker.worker_info().get("active_jobs", 0) == 0, "the job ends")
    await sip_stack.eventually(lambda: _no_rooms(sip_stack), "the room is gone")
    wait_for(lambda: sip_stack.status().get("activeCalls", 0) == 0, "the operator's count drops")
    assert raw_number_leaks(sip_stack) == []


async def _no_rooms(stack: SipStack) -> bool:
    return not await stack.rooms()


async def test_agent_end_call_sends_bye(sip_stack: SipStack, sip_ua: SipUA) -> None:
    """A hang-up intent: the agent says goodbye, then the caller's UA gets a BYE."""
    script = phone_script("Thank you for calling. Goodbye.", {"type": "hangup"})
    sip_stack.apply(sip_trunk(), voice_agent(script=script))
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    with contextlib.suppress(ConnectionError):  # it may hang up before a full utterance
        await ask(call, flite_prompt(QUESTION), lambda u: call.ended.is_set())
    await asyncio.wait_for(call.ended.wait(), 30)
    assert call.ended_by == "remote"
    bye = [m for d, m in sip_ua.log if d == "in" and m.method == "BYE"]
    assert len(bye) == 1 and bye[0].header("Call-ID") == call.call_id


async def test_transfer_sends_refer_to_the_target(sip_stack: SipStack, sip_ua: SipUA) -> None:
    """A transfer intent: the agent's transfer tool makes livekit-sip send REFER to the UA."""
    script = phone_script("Transferring you now.", {"type": "transfer", "target": "frontdesk"})
    sip_stack.apply(sip_trunk(), voice_agent(script=script))
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    await ask(call, flite_prompt(QUESTION), lambda u: not call.refers.empty())
    refer_to = await asyncio.wait_for(call.refers.get(), 60)
    assert refer_to == TRANSFER_URI
    # after our NOTIFY "200 OK" the bridge considers the caller transferred and hangs up
    await asyncio.wait_for(call.ended.wait(), 30)


async def test_a_call_survives_a_drain_and_the_next_goes_elsewhere(
    sip_stack: SipStack, sip_ua: SipUA, heard: Heard
) -> None:
    """SIGTERM the worker that has a call: the call goes on; the next call lands elsewhere."""
    sip_stack.apply(sip_trunk(), voice_agent())
    workers = [sip_stack.start_worker(), sip_stack.start_worker()]
    first = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(first.rtp, first.answered_at, 60, first.ended)
    [busy] = [w for w in workers if w.worker_info().get("active_jobs") == 1]
    [idle] = [w for w in workers if w is not busy]
    busy.sigterm()
    await asyncio.to_thread(wait_for, lambda: busy.log_contains("draining worker"), "the drain")
    second = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller="+15557770456")
    await next_utterance(second.rtp, second.answered_at, 60, second.ended)
    assert idle.worker_info().get("active_jobs") == 1  # the draining worker took no new call
    # the drained call still talks: a question gets the scripted answer
    answer = await ask(first, flite_prompt(QUESTION), heard.understood, tries=5)
    assert heard(answer) == HOURS_REPLY
    assert not first.ended.is_set() and busy.proc is not None and busy.proc.alive()
    assert await first.bye() == 200  # the call ends normally, by the caller
    assert await asyncio.to_thread(busy.wait_exit, 60) == 0, busy.log()[-3000:]
    assert await second.bye() == 200
