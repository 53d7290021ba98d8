"""A phone call's trace: one root span with the LiveKit SIP call, trunk and rule IDs, no number."""

from __future__ import annotations

import pytest
from livekit import api

from devstack.sipua.audio import flite_prompt, next_utterance
from devstack.sipua.dialog import ask
from devstack.sipua.ua import SipUA
from tests.support.agent_otlp import OtlpReceiver
from tests.support.sip_stack import CALLER, QUESTION, SipStack, sip_trunk, voice_agent
from tests.support.voiceagent_stack import NUMBER

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]


async def _sip_participant(stack: SipStack) -> api.ParticipantInfo:
    ep = stack.ops.endpoint
    [room] = await stack.rooms()
    async with api.LiveKitAPI(ep.url, ep.api_key, ep.api_secret) as lk:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    people = listed.participants
    [sip] = [p for p in people if p.kind == api.ParticipantInfo.Kind.SIP]
    return sip


async def test_call_trace_names_the_sip_call_trunk_and_rule(
    sip_stack: SipStack, sip_ua: SipUA, otlp: OtlpReceiver
) -> None:
    sip_stack.apply(sip_trunk(), voice_agent(otlp=otlp.endpoint))
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(call.rtp, call.answered_at, 60, call.ended)
    participant = await _sip_participant(sip_stack)
    await ask(call, flite_prompt(QUESTION), lambda _: True, tries=1)
    assert await call.bye() == 200

    [root] = await otlp.roots(60)
    assert {s.trace_id for s in otlp.spans} == {root.trace_id}  # one trace per call
    trunk_id = sip_stack.kube.get("SipTrunk", "carrier")["status"]["inboundTrunkID"]
    rule_id = sip_stack.status()["dispatchRuleID"]
    call_id = participant.attributes["sip.callID"]
    assert call_id.startswith("SCL_")
    assert root.attributes["sip.callID"] == call_id
    assert root.attributes["sip.trunkID"] == trunk_id == participant.attributes["sip.trunkID"]
    assert root.attributes["sip.ruleID"] == rule_id == participant.attributes["sip.ruleID"]
    assert root.attributes["switchboard.caller.sip"] is True
    assert "sip.phoneNumber" not in root.attributes
    # the turn's latencies ride on the root span
    assert any(name == "switchboard.turn" for name, _ in root.events)
    digits = CALLER.lstrip("+").encode()
    assert all(digits not in body for body in otlp.bodies), "raw caller number in a span"
