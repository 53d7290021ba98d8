"""SipTrunk reconcile passes on a real livekit-server: create, adopt, drift, conflict, outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from livekit import api
from switchboard.api.siptrunk import SipTrunk
from switchboard.kube import MissingSecretError
from switchboard.livekit.client import LiveKitClient
from switchboard.names import Owner
from switchboard.siptrunk.builders import outbound_trunk
from switchboard.siptrunk.reconcile import Result, reconcile

pytestmark = pytest.mark.livekit

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WRITES = {"Create", "Update", "Delete"}
PASSWORD = "pw-3f9a1c-secret-value"


class SecretStore:
    """Test double for the Kubernetes Secret reads (the k8s tier uses real Secrets)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {
            "creds": {"username": "carrier", "password": PASSWORD}
        }

    async def read(self, namespace: str, name: str, *keys: str) -> list[str]:
        if name not in self.data:
            raise MissingSecretError(namespace, name)
        return [self.data[name][k] for k in keys]


def trunk(name: str = "carrier", number: str = "+15550100100", **status: Any) -> SipTrunk:
    return SipTrunk.model_validate(
        {
            "spec": {
                "inbound": {"numbers": [number], "authSecretRef": {"name": "creds"}},
                "outbound": {"address": "127.0.0.1:5090", "numbers": [number]},
            },
            "status": status or None,
        }
    )


def owner(name: str = "carrier", uid: str = "uid-1") -> Owner:
    return Owner("SipTrunk", "ns", name, uid)


async def run(lk: LiveKitClient, obj: SipTrunk, who: Owner, secrets: SecretStore) -> Result:
    return await reconcile(obj, owner=who, generation=3, lk=lk, read_secret=secrets.read, now=NOW)


def writes(lk: LiveKitClient) -> int:
    return sum(n for op, n in lk.calls.items() if any(op.startswith(w) for w in WRITES))


def cond(result: Result, type_: str) -> dict[str, Any]:
    return next(c for c in result.value["conditions"] if c["type"] == type_)


async def test_create_then_steady_state_makes_no_writes(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    first = await run(livekit, trunk(), owner(), secrets)
    assert first.retry_after is None
    assert cond(first, "Ready")["status"] == "True"
    assert cond(first, "Ready")["observedGeneration"] == 3
    assert {e.reason for e in first.events} == {"Created"}
    (inbound,) = await livekit.list_inbound_trunks([first.value["inboundTrunkID"]])
    assert inbound.auth_password == PASSWORD

    before = writes(livekit)
    second = await run(livekit, trunk(**first.value), owner(), secrets)
    assert second.value == first.value  # nothing to patch: status written only on change
    assert second.events == []
    assert writes(livekit) == before


async def test_lost_status_adopts_instead_of_duplicating(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    first = await run(livekit, trunk(), owner(), secrets)
    adopted = await run(livekit, trunk(), owner(), secrets)  # status lost
    assert adopted.value["inboundTrunkID"] == first.value["inboundTrunkID"]
    assert adopted.value["outboundTrunkID"] == first.value["outboundTrunkID"]
    assert {e.reason for e in adopted.events} == {"Adopted"}
    assert len(await livekit.list_inbound_trunks()) == 1
    assert len(await livekit.list_outbound_trunks()) == 1


async def test_duplicates_from_a_crash_are_removed(livekit: LiveKitClient) -> None:
    obj, who = trunk(), owner()
    assert obj.spec.outbound is not None
    # Simulate an operator killed twice between "create" and "patch status".
    for _ in range(2):
        await livekit.create_outbound_trunk(outbound_trunk(who, obj.spec.outbound, None))
    result = await run(livekit, obj, who, SecretStore())
    assert len(await livekit.list_outbound_trunks()) == 1
    assert any("removed duplicates" in e.message for e in result.events)


async def test_out_of_band_delete_and_edit_are_repaired(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    first = await run(livekit, trunk(), owner(), secrets)
    await livekit.delete_trunk(first.value["inboundTrunkID"])
    edited = api.SIPOutboundTrunkInfo(name="hand-edited", address="10.9.9.9", numbers=["+1555"])
    edited.metadata = owner().metadata("outbound")
    await livekit.update_outbound_trunk(first.value["outboundTrunkID"], edited)

    repaired = await run(livekit, trunk(**first.value), owner(), secrets)
    reasons = {e.reason: e.message for e in repaired.events}
    assert set(reasons) == {"Recreated", "Updated"}
    assert "address" in reasons["Updated"]
    assert repaired.value["inboundTrunkID"] != first.value["inboundTrunkID"]
    (out,) = await livekit.list_outbound_trunks([repaired.value["outboundTrunkID"]])
    assert out.address == "127.0.0.1:5090"


async def test_secret_rotation_updates_livekit(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    first = await run(livekit, trunk(), owner(), secrets)
    secrets.data["creds"]["password"] = "rotated-" + PASSWORD
    rotated = await run(livekit, trunk(**first.value), owner(), secrets)
    (inbound,) = await livekit.list_inbound_trunks([first.value["inboundTrunkID"]])
    assert inbound.auth_password == "rotated-" + PASSWORD
    assert [e.message for e in rotated.events] == [
        f"Updated LiveKit inbound trunk {first.value['inboundTrunkID']} (drift in auth_password)"
    ]


async def test_missing_secret_names_it(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    secrets.data.clear()
    result = await run(livekit, trunk(), owner(), secrets)
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SecretNotFound")
    assert "'creds'" in ready["message"]
    assert result.retry_after is not None


async def test_conflicting_number_names_the_other_siptrunk(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    await run(livekit, trunk("first"), owner("first", "uid-a"), secrets)
    second = await run(livekit, trunk("second"), owner("second", "uid-b"), secrets)
    ready = cond(second, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Conflict")
    assert "SipTrunk ns/first" in ready["message"]
    assert second.retry_after is not None and second.retry_after >= 30
    assert len(await livekit.list_inbound_trunks()) == 1


async def test_no_secret_value_in_status_or_events(livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    results = [await run(livekit, trunk(), owner(), secrets)]
    secrets.data["creds"]["password"] = "rotated-" + PASSWORD
    results.append(await run(livekit, trunk(**results[0].value), owner(), secrets))
    for result in results:
        text = json.dumps(result.value) + repr(result.events)
        assert PASSWORD not in text


async def test_outage_flips_synced_then_converges(livekit_server, livekit: LiveKitClient) -> None:
    secrets = SecretStore()
    first = await run(livekit, trunk(), owner(), secrets)
    livekit_server.stop_server()
    try:
        down = await run(livekit, trunk(**first.value), owner(), secrets)
    finally:
        livekit_server.start_server()
    synced = cond(down, "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "LiveKitUnavailable")
    assert down.retry_after is not None
    assert cond(down, "Ready")["status"] == "True"  # the trunk still exists; only sync failed
    # the handler's retry message is the failure itself, not the (stale, True) Ready message
    assert down.failure is not None and down.failure.message == synced["message"]

    back = await run(livekit, trunk(**down.value), owner(), secrets)
    assert cond(back, "Synced")["status"] == "True"
    assert back.value["inboundTrunkID"] == first.value["inboundTrunkID"]


async def test_a_foreign_id_in_status_is_neither_adopted_nor_deleted(
    livekit: LiveKitClient,
) -> None:
    """Failed before: ensure updated (took over) whatever trunk ID status named, and remove
    deleted it. Status is user-writable; only the metadata record proves ownership."""
    secrets = SecretStore()
    foreign = await livekit.create_outbound_trunk(
        api.SIPOutboundTrunkInfo(name="someone-else", address="10.1.1.1", numbers=["+15550000001"])
    )
    forged = trunk(outboundTrunkID=foreign.sip_trunk_id)
    result = await run(livekit, forged, owner(), secrets)
    ours = result.value["outboundTrunkID"]
    assert ours != foreign.sip_trunk_id
    assert any(e.type == "Warning" and e.reason == "NotOwned" for e in result.events)
    (still,) = await livekit.list_outbound_trunks([foreign.sip_trunk_id])
    assert still.name == "someone-else" and still.address == "10.1.1.1"  # untouched
    # and a pass whose outbound direction left the spec removes only what it owns
    inbound_only = SipTrunk.model_validate(
        {
            "spec": {"inbound": {"numbers": ["+15550100100"], "authSecretRef": {"name": "creds"}}},
            "status": {**result.value, "outboundTrunkID": foreign.sip_trunk_id},
        }
    )
    await run(livekit, inbound_only, owner(), secrets)
    assert await livekit.list_outbound_trunks([ours]) == []
    assert [t.sip_trunk_id for t in await livekit.list_outbound_trunks([foreign.sip_trunk_id])] == [
        foreign.sip_trunk_id
    ]
