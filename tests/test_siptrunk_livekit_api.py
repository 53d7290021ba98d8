"""The operator's LiveKit client against a real livekit-server: SIP trunks and dispatch rules."""

from __future__ import annotations

import pytest
from livekit import api
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.livekit.errors import LiveKitRejected, LiveKitUnavailable

pytestmark = pytest.mark.livekit

NUMBER = "+15550100100"


def inbound(name: str, **kw: object) -> api.SIPInboundTrunkInfo:
    return api.SIPInboundTrunkInfo(name=name, **kw)  # type: ignore[arg-type]


async def test_inbound_trunk_create_list_replace_delete(livekit: LiveKitClient) -> None:
    created = await livekit.create_inbound_trunk(
        inbound("t1", numbers=[NUMBER], allowed_addresses=["10.0.0.0/24"], metadata="owner")
    )
    assert created.sip_trunk_id.startswith("ST_")
    (listed,) = await livekit.list_inbound_trunks([created.sip_trunk_id])
    assert list(listed.numbers) == [NUMBER]
    assert listed.metadata == "owner"

    # The replace form clears a list, which the partial-update API cannot do.
    replaced = await livekit.update_inbound_trunk(
        created.sip_trunk_id, inbound("t1", numbers=[NUMBER], krisp_enabled=True)
    )
    assert list(replaced.allowed_addresses) == []
    (listed,) = await livekit.list_inbound_trunks([created.sip_trunk_id])
    assert list(listed.allowed_addresses) == [] and listed.krisp_enabled

    await livekit.delete_trunk(created.sip_trunk_id)
    assert await livekit.list_inbound_trunks([created.sip_trunk_id]) == []


async def test_outbound_trunk_create_list_replace_delete(livekit: LiveKitClient) -> None:
    created = await livekit.create_outbound_trunk(
        api.SIPOutboundTrunkInfo(
            name="out",
            address="sip.example.test",
            numbers=[NUMBER],
            auth_username="u",
            auth_password="p",
            transport=api.SIPTransport.SIP_TRANSPORT_TCP,
        )
    )
    replaced = await livekit.update_outbound_trunk(
        created.sip_trunk_id,
        api.SIPOutboundTrunkInfo(name="out", address="sip2.example.test:5070", numbers=[NUMBER]),
    )
    assert replaced.address == "sip2.example.test:5070"
    (listed,) = await livekit.list_outbound_trunks([created.sip_trunk_id])
    assert listed.auth_username == "" and listed.transport == 0  # replaced, not merged
    await livekit.delete_trunk(created.sip_trunk_id)
    assert await livekit.list_outbound_trunks([created.sip_trunk_id]) == []


async def test_dispatch_rule_create_list_replace_delete(livekit: LiveKitClient) -> None:
    trunk = await livekit.create_inbound_trunk(inbound("t", numbers=[NUMBER]))
    rule = await livekit.create_dispatch_rule(
        api.SIPDispatchRuleInfo(
            name="agent",
            trunk_ids=[trunk.sip_trunk_id],
            numbers=[NUMBER],
            rule=api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
            ),
            room_config=api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="a1")]),
        )
    )
    assert rule.sip_dispatch_rule_id.startswith("SDR_")
    (listed,) = await livekit.list_dispatch_rules([rule.sip_dispatch_rule_id])
    assert list(listed.numbers) == [NUMBER]
    assert listed.room_config.agents[0].agent_name == "a1"

    updated = await livekit.update_dispatch_rule(
        rule.sip_dispatch_rule_id,
        api.SIPDispatchRuleInfo(
            name="agent",
            trunk_ids=[trunk.sip_trunk_id],
            rule=api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="room-")
            ),
            room_config=api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="a2")]),
        ),
    )
    assert list(updated.numbers) == []
    assert updated.rule.dispatch_rule_individual.room_prefix == "room-"

    assert await livekit.delete_dispatch_rule(rule.sip_dispatch_rule_id) is True
    # LiveKit answers 404 for a missing rule; the client reports it as "already gone".
    assert await livekit.delete_dispatch_rule(rule.sip_dispatch_rule_id) is False


async def test_conflicting_inbound_trunks_are_rejected_clearly(livekit: LiveKitClient) -> None:
    first = await livekit.create_inbound_trunk(inbound("first", numbers=[NUMBER]))
    with pytest.raises(LiveKitRejected) as err:
        await livekit.create_inbound_trunk(inbound("second", numbers=[NUMBER]))
    rejected = err.value
    assert rejected.operation == "CreateSIPInboundTrunk"
    assert rejected.code == "invalid_argument"
    assert "conflict" in rejected.message.lower()
    # The message names the trunk already holding the number, so the operator can name its owner.
    assert first.sip_trunk_id in rejected.conflicting_trunk_ids
    assert len(await livekit.list_inbound_trunks()) == 1


async def test_unreachable_livekit_is_unavailable(livekit_server) -> None:
    dead = LiveKitEndpoint("ws://127.0.0.1:9", livekit_server.api_key, livekit_server.api_secret)
    async with LiveKitClient(dead, timeout_s=2) as client:
        with pytest.raises(LiveKitUnavailable) as err:
            await client.list_inbound_trunks()
    assert err.value.code == "transport"


async def test_wrong_secret_is_rejected(livekit_server) -> None:
    bad = LiveKitEndpoint(livekit_server.url, livekit_server.api_key, "x" * 40)
    async with LiveKitClient(bad) as client:
        with pytest.raises(LiveKitRejected) as err:
            await client.list_inbound_trunks()
    assert err.value.status == 401
    assert "x" * 40 not in str(err.value)


def test_endpoint_repr_hides_secret() -> None:
    assert "s3cret" not in repr(LiveKitEndpoint("ws://h", "key", "s3cret"))
