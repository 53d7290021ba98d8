"""Calls LiveKit refuses (unknown number, wrong source, bad credentials); an outbound call."""

from __future__ import annotations

import asyncio
import base64

import pytest
from livekit import api

from devstack.sipua.audio import Transcriber, next_utterance
from devstack.sipua.ua import CallRejected, SipUA
from tests.support.sip_stack import CALLER, GREETING, SipStack, sip_trunk, voice_agent

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]

ELSEWHERE = "+15550100200"  # a trunk that only takes calls from 10.1.2.3
AUTHED = "+15550100300"  # a trunk with digest credentials


async def test_rejected_calls_create_no_room_and_no_job(sip_stack: SipStack, sip_ua: SipUA) -> None:
    """Each refusal gets the SIP status livekit-sip gives; none reaches a room or a worker."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "carrier-auth"},
        "data": {
            k: base64.b64encode(v.encode()).decode()
            for k, v in (("username", "carrier"), ("password", "s3cret-pw"))
        },
    }
    sip_stack.kube.core.create_namespaced_secret(sip_stack.kube.namespace, secret)
    remote = sip_trunk("remote", numbers=[ELSEWHERE], allowedAddresses=["10.1.2.3/32"])
    authed = sip_trunk("authed", numbers=[AUTHED], authSecretRef={"name": "carrier-auth"})
    del authed["spec"]["inbound"]["allowedAddresses"]
    agent = voice_agent(trunks=("carrier", "remote", "authed"), numbers=())
    sip_stack.apply(sip_trunk(), remote, authed, agent)
    worker = sip_stack.start_worker()
    observed = {}
    for case, number, auth in (
        ("unknown number", "+15550100999", None),
        ("source not allowed", ELSEWHERE, None),
        ("wrong password", AUTHED, ("carrier", "wrong")),
        ("no credentials", AUTHED, None),
    ):
        try:
            call = await sip_ua.invite(
                sip_stack.bridge.uri(number), caller=CALLER, auth=auth, timeout=20
            )
        except CallRejected as err:
            observed[case] = err.status
        except TimeoutError:
            observed[case] = "no final response"
        else:
            observed[case] = "answered"
            await call.bye()
    # Observed with livekit-sip v1.11.0: a call that matches no trunk gets no final response
    # at all (it logs reason "flood": scanners learn nothing); digest auth challenges with
    # 407, and answers wrong credentials with 401.
    assert observed == {
        "unknown number": "no final response",
        "source not allowed": "no final response",
        "wrong password": 401,
        "no credentials": 407,
    }
    assert await sip_stack.rooms() == []
    assert "received job request" not in worker.log()
    # the right credentials are let in: the refusal above was about the password
    call = await sip_ua.invite(
        sip_stack.bridge.uri(AUTHED), caller=CALLER, auth=("carrier", "s3cret-pw")
    )
    assert await call.bye() == 200


async def test_outbound_call_reaches_a_ua_that_hears_the_agent(
    sip_stack: SipStack,
    livekit_sip,
) -> None:
    """CreateSIPParticipant through the operator's outbound trunk rings our UA; it hears hello."""
    callee = await SipUA(user="callee").start()
    try:
        trunk = sip_trunk(outbound=f"127.0.0.1:{callee.port}")
        sip_stack.apply(trunk, voice_agent())
        worker = sip_stack.start_worker()
        trunk_id = sip_stack.kube.get("SipTrunk", "carrier")["status"]["outboundTrunkID"]
        agent_name = worker.config["agentName"]
        ep = sip_stack.ops.endpoint
        async with api.LiveKitAPI(ep.url, ep.api_key, ep.api_secret) as lk:
            room = "outbound-test"
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name=agent_name, room=room)
            )
            request = api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk_id,
                sip_call_to=CALLER,
                room_name=room,
                participant_identity="callee",
                wait_until_answered=True,
            )
            dial = asyncio.create_task(lk.sip.create_sip_participant(request))
            call = await asyncio.wait_for(callee.incoming.get(), 30)
            assert CALLER.lstrip("+") in (call.invite.uri if call.invite else "")
            await call.answer()
            await asyncio.wait_for(dial, 30)
            heard = await next_utterance(call.rtp, call.answered_at, 60, call.ended)
            text = Transcriber()(heard.pcm)
            assert {"hello", "thank", "calling", "shop"} & set(text.split()), (
                f"{text!r} for {GREETING!r}"
            )
            await call.bye()
    finally:
        await callee.close()
