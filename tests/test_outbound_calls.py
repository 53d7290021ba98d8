"""OutboundCall end to end: operator -> dispatch -> worker claims and dials -> callee UA."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devstack.sipua.audio import Transcriber, next_utterance
from devstack.sipua.ua import SipUA
from tests.support.outbound import (
    ANSWER,
    BUSY,
    DECLINE,
    NO_ANSWER,
    Callee,
    outbound_agent,
    outbound_call,
    outbound_trunk,
)
from tests.support.sip_stack import GREETING, SipStack

pytestmark = [pytest.mark.sip, pytest.mark.k8s, pytest.mark.timeout(300)]

ANSWERS, BUSY_NO, DECLINES, RINGS = "+15557770100", "+15557770486", "+15557770603", "+15557770408"
BEHAVIOUR = {ANSWERS: ANSWER, BUSY_NO: BUSY, DECLINES: DECLINE, RINGS: NO_ANSWER}


def behave(user: str) -> str:
    return BEHAVIOUR.get("+" + user, ANSWER)


async def wait_phase(stack: SipStack, name: str, phases: set[str], timeout: float = 90) -> dict:
    """The OutboundCall once its phase is one of `phases` (a hang guard, not a speed check)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stack.ops.op.check_alive()
        obj: dict[str, Any] = await asyncio.to_thread(stack.kube.get, "OutboundCall", name)
        if (obj.get("status") or {}).get("phase") in phases:
            return obj
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{name}: still {obj.get('status')}", pytrace=False)
        await asyncio.sleep(0.3)


async def test_answered_call_greets_once_answered_and_completes(sip_stack: SipStack) -> None:
    """The callee answers after ringing; it hears the greeting; BYE -> Completed/answered."""
    callee = Callee(await SipUA(user="callee").start(), behave, hold_s=8.0)
    callee.answer_after_s = 2.0  # a greeting before the answer would be heard as early audio
    callee.start()
    try:
        sip_stack.apply(outbound_trunk(callee.ua.port), outbound_agent())
        sip_stack.start_worker()
        sip_stack.kube.create(outbound_call("remind", ANSWERS, context={"slot": "10am"}))
        call = await _answered(callee, ANSWERS.lstrip("+"))
        heard = await next_utterance(call.rtp, call.answered_at, 60, call.ended)
        text = Transcriber()(heard.pcm)
        assert {"hello", "thank", "calling", "shop"} & set(text.split()), (
            f"{text!r} for {GREETING!r}"
        )
        # nothing was played while it rang: the first speech comes after the 200 OK
        assert call.rtp.first_speech_at >= call.answered_at
        done = await wait_phase(sip_stack, "remind", {"Completed", "Failed"})
        status = done["status"]
        assert (status["phase"], status["result"]) == ("Completed", "answered")
        assert 6 <= status["durationSeconds"] <= 11  # the callee hung up after 8 s
        assert status["toMasked"] == "+1555•••0100"
        assert status["room"].startswith("oc-") and status["sipCallID"].startswith("SCL_")
        assert {"startTime", "dialTime", "answerTime", "endTime", "jobID"} <= status.keys()
        assert callee.invites == {ANSWERS.lstrip("+"): 1}
        assert ANSWERS.lstrip("+") not in sip_stack.ops.op.text()  # masked in the operator log
        events = sip_stack.kube.core.list_namespaced_event(sip_stack.kube.namespace).items
        assert ANSWERS.lstrip("+") not in str([e.message for e in events])
    finally:
        await callee.close()


async def _answered(callee: Callee, user: str, timeout: float = 90) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while user not in callee.answered:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no call answered for {user}", pytrace=False)
        await asyncio.sleep(0.1)
    return callee.answered[user]


async def test_busy_declined_and_unanswered_calls_get_their_results(sip_stack: SipStack) -> None:
    """486 -> busy, 603 -> rejected, ringing timeout -> no-answer; each dialled once."""
    callee = Callee(await SipUA(user="callee").start(), behave).start()
    try:
        sip_stack.apply(outbound_trunk(callee.ua.port), outbound_agent())
        sip_stack.start_worker()
        for name, number in (("busy", BUSY_NO), ("declined", DECLINES), ("rings", RINGS)):
            sip_stack.kube.create(outbound_call(name, number, ringingTimeout="4s"))
        got = {}
        for name in ("busy", "declined", "rings"):
            status = (await wait_phase(sip_stack, name, {"Completed", "Failed"}))["status"]
            got[name] = (status["phase"], status["result"], status.get("sipStatus"))
        assert got["busy"] == ("Failed", "busy", 486)
        assert got["declined"] == ("Failed", "rejected", 603)
        assert got["rings"][:2] == ("Failed", "no-answer")
        assert dict(callee.invites) == {n.lstrip("+"): 1 for n in (BUSY_NO, DECLINES, RINGS)}
    finally:
        await callee.close()


async def test_deleting_a_call_in_flight_hangs_it_up(sip_stack: SipStack) -> None:
    """kubectl delete of an answered OutboundCall ends the call at the callee (BYE) at once,
    long before the callee would hang up itself, and the object goes away."""
    callee = Callee(await SipUA(user="callee").start(), behave, hold_s=120.0).start()
    try:
        sip_stack.apply(outbound_trunk(callee.ua.port), outbound_agent())
        sip_stack.start_worker()
        sip_stack.kube.create(outbound_call("cancel-me", ANSWERS))
        call = await _answered(callee, ANSWERS.lstrip("+"))
        await wait_phase(sip_stack, "cancel-me", {"InProgress"})
        await asyncio.to_thread(sip_stack.kube.delete, "OutboundCall", "cancel-me")
        # A hang guard, not a speed check: the callee would hold for 120 s on its own.
        await asyncio.wait_for(call.ended.wait(), 60)
        assert callee.invites == {ANSWERS.lstrip("+"): 1}

        async def gone() -> bool:
            while await asyncio.to_thread(sip_stack.kube.exists, "OutboundCall", "cancel-me"):
                await asyncio.sleep(0.3)
            return True

        assert await asyncio.wait_for(gone(), 60)
    finally:
        await callee.close()
