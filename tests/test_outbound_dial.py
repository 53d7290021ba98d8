"""The worker's dial (CreateSIPParticipant, wait_until_answered) against real livekit-sip."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api
from switchboard.livekit.client import LiveKitClient
from switchboard_agent.outbound import place_call
from switchboard_contract.outbound import CallRef, OutboundDial

from devstack.sip import SipBridge
from devstack.sipua.ua import SipUA
from tests.support.outbound import ANSWER, BUSY, DECLINE, NO_ANSWER, Callee

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

NUMBERS = {"15557770100": ANSWER, "15557770486": BUSY, "15557770603": DECLINE}


async def test_place_call_maps_each_sip_final_to_its_result(
    livekit: LiveKitClient, livekit_sip: SipBridge
) -> None:
    callee = Callee(await SipUA(user="callee").start(), lambda u: NUMBERS.get(u, NO_ANSWER))
    callee.hold_s = 1.0
    callee.start()
    try:
        trunk = await livekit.create_outbound_trunk(
            api.SIPOutboundTrunkInfo(
                name="dial-test",
                address=f"127.0.0.1:{callee.ua.port}",
                transport=api.SIP_TRANSPORT_UDP,
                numbers=["+15550100100"],
            )
        )
        ep = livekit.endpoint
        async with api.LiveKitAPI(ep.url, ep.api_key, ep.api_secret) as lk:

            async def dial(to: str, ring_s: float = 20) -> tuple[str, int | None, float]:
                ref = CallRef(namespace="ns", name="c", uid="u")
                call = OutboundDial(
                    call=ref,
                    sip_trunk_id=trunk.sip_trunk_id,
                    to=to,
                    from_number="+15550100100",
                    ringing_timeout_s=ring_s,
                    max_call_duration_s=60,
                )
                start = asyncio.get_running_loop().time()
                got = await place_call(lk, f"dial-{to.lstrip('+')}", call)
                return got.result, got.sip_status, asyncio.get_running_loop().time() - start

            results = await asyncio.gather(
                dial("+15557770100"), dial("+15557770486"), dial("+15557770603"),
                dial("+15557770408", ring_s=3),
            )  # fmt: skip
        answered, busy, declined, rang = results
        assert answered[:2] == ("answered", 200)
        assert busy[:2] == ("busy", 486)
        assert declined[:2] == ("rejected", 603)
        assert rang[:2] == ("no-answer", 408), rang
        assert 2.5 <= rang[2] <= 15, rang  # the ring window, not a client timeout
        assert sum(callee.invites.values()) == 4
    finally:
        await callee.close()
