"""SipTrunk end to end: the operator process, a real control plane and a real livekit-server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint

from tests.support.kube import GROUP, VERSION, Kube, wait_for
from tests.support.operator import OperatorProcess

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]

PASSWORD = "s3cr3t-" + "b64f0a9e77d1"
ROTATED = "r0tated-" + "c0ffee9911aa"
Factory = Callable[..., OperatorProcess]


def siptrunk(name: str, number: str = "+15550100100", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inbound": {"numbers": [number], "authSecretRef": {"name": "carrier-auth"}},
        "outbound": {"address": "127.0.0.1:5090", "numbers": [number]},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": body,
    }


def auth_secret(kube: Kube, password: str = PASSWORD, *, watched: bool = True) -> None:
    """The carrier credentials; `watched` labels them for the operator's Secret watch."""
    labels = {"switchboard.dev/watch": "true"} if watched else {}
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "carrier-auth", "labels": labels},
            "stringData": {"username": "carrier", "password": password},
        }
    )


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def wait_condition(
    kube: Kube,
    op: OperatorProcess,
    name: str,
    type_: str,
    status: str,
    reason: str | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        op.check_alive()
        obj = kube.get("SipTrunk", name)
        cond = conditions(obj).get(type_)
        gen_ok = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"][
            "generation"
        ]
        if cond and gen_ok and cond["status"] == status and reason in (None, cond["reason"]):
            return obj
        return None

    return wait_for(check, f"SipTrunk {name} {type_}={status} ({reason})", timeout)  # type: ignore[no-any-return]


def create_ready(kube: Kube, op: OperatorProcess, name: str, **kw: Any) -> dict[str, Any]:
    """Create a SipTrunk (with the auth Secret present) and wait until it is Ready."""
    auth_secret(kube)
    kube.create(siptrunk(name, **kw))
    return wait_condition(kube, op, name, "Ready", "True")


def gone(kube: Kube, name: str) -> bool:
    try:
        kube.get("SipTrunk", name)
    except ApiException as exc:
        return exc.status == 404
    return False


async def owned(livekit: LiveKitClient, kube: Kube, name: str) -> list[str]:
    """IDs of LiveKit trunks whose ownership metadata names this SipTrunk."""
    out = []
    for t in [*await livekit.list_inbound_trunks(), *await livekit.list_outbound_trunks()]:
        meta = json.loads(t.metadata or "{}")
        if meta.get("namespace") == kube.namespace and meta.get("name") == name:
            out.append(t.sip_trunk_id)
    return out


def events_for(kube: Kube, name: str) -> list[Any]:
    return [
        e
        for e in kube.core.list_namespaced_event(kube.namespace).items
        if e.involved_object.name == name
    ]


async def test_lifecycle_create_update_delete(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    obj = create_ready(kube, op, "carrier")
    status = obj["status"]
    (inbound,) = await livekit.list_inbound_trunks([status["inboundTrunkID"]])
    assert inbound.auth_password == PASSWORD and list(inbound.numbers) == ["+15550100100"]
    assert "switchboard.dev/finalizer" in obj["metadata"]["finalizers"]
    assert {e.reason for e in events_for(kube, "carrier")} >= {"Created"}

    # Update: the outbound section is removed, the inbound gets a second number.
    kube.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        kube.namespace,
        "siptrunks",
        "carrier",
        {"spec": {"outbound": None, "inbound": {"numbers": ["+15550100100", "+15550100101"]}}},
    )
    obj = wait_condition(kube, op, "carrier", "Ready", "True")
    assert "outboundTrunkID" not in obj["status"]
    (inbound,) = await livekit.list_inbound_trunks([status["inboundTrunkID"]])
    assert sorted(inbound.numbers) == ["+15550100100", "+15550100101"]
    assert await livekit.list_outbound_trunks() == []

    kube.delete("SipTrunk", "carrier")
    wait_for(lambda: gone(kube, "carrier"), "SipTrunk deletion")
    assert await owned(livekit, kube, "carrier") == []


async def test_orphan_policy_keeps_livekit_trunks(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    create_ready(kube, op, "keep", deletionPolicy="Orphan")
    kube.delete("SipTrunk", "keep")
    wait_for(lambda: gone(kube, "keep"), "SipTrunk deletion")
    assert len(await owned(livekit, kube, "keep")) == 2


async def test_secret_rotation_and_missing_secret(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    kube.create(siptrunk("rotating"))
    obj = wait_condition(kube, op, "rotating", "Ready", "False", "SecretNotFound")
    assert "carrier-auth" in conditions(obj)["Ready"]["message"]

    auth_secret(kube)  # the Secret appears: the watch re-syncs without waiting for a timer
    obj = wait_condition(kube, op, "rotating", "Ready", "True")
    trunk_id = obj["status"]["inboundTrunkID"]

    auth_secret(kube, ROTATED)

    async def rotated() -> bool:
        (t,) = await livekit.list_inbound_trunks([trunk_id])
        return t.auth_password == ROTATED

    await async_wait(rotated, "LiveKit to get the rotated password")
    scan_for_secrets(kube, op, "rotating")


async def test_only_labelled_secrets_are_watched(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    """Failed before: the Secret watch had no selector, so the operator streamed every Secret
    in the cluster. Now only labelled ones; an unlabelled one is re-read at the resync."""
    op = operator_factory(livekit_endpoint)
    auth_secret(kube, watched=False)
    kube.create(siptrunk("quiet"))
    obj = wait_condition(kube, op, "quiet", "Ready", "True")
    trunk_id = obj["status"]["inboundTrunkID"]
    auth_secret(kube, ROTATED, watched=False)

    async def rotated() -> bool:
        (t,) = await livekit.list_inbound_trunks([trunk_id])
        return t.auth_password == ROTATED

    await async_wait(rotated, "the resync to apply the rotated password")
    annotations = kube.get("SipTrunk", "quiet")["metadata"].get("annotations") or {}
    assert "switchboard.dev/credentials-version" not in annotations  # the watch never saw it
    auth_secret(kube, PASSWORD)  # labelled: the watch nudges the SipTrunk

    def nudged() -> bool:
        annotations = kube.get("SipTrunk", "quiet")["metadata"].get("annotations") or {}
        return "carrier-auth" in annotations.get("switchboard.dev/credentials-version", "")

    wait_for(nudged, "the watch to nudge the SipTrunk")


async def test_out_of_band_delete_is_restored(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    obj = create_ready(kube, op, "drift")
    await livekit.delete_trunk(obj["status"]["inboundTrunkID"])

    def restored() -> bool:
        op.check_alive()
        new = kube.get("SipTrunk", "drift")["status"].get("inboundTrunkID")
        return bool(new) and new != obj["status"]["inboundTrunkID"]

    wait_for(restored, "the resync to recreate the inbound trunk")
    assert len(await owned(livekit, kube, "drift")) == 2
    assert "Recreated" in {e.reason for e in events_for(kube, "drift")}


async def test_conflicting_numbers_name_the_other_siptrunk(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    create_ready(kube, op, "first")
    kube.create(siptrunk("second"))
    obj = wait_condition(kube, op, "second", "Ready", "False", "Conflict")
    assert f"SipTrunk {kube.namespace}/first" in conditions(obj)["Ready"]["message"]


async def test_operator_killed_mid_reconcile_leaves_no_duplicates(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
) -> None:
    count = 15
    op = operator_factory(livekit_endpoint)
    auth_secret(kube)
    for i in range(count):
        kube.create(siptrunk(f"t{i}", number=f"+1555020{i:04d}"))

    async def some_created() -> bool:
        return len(await livekit.list_inbound_trunks()) >= 3

    await async_wait(some_created, "the first LiveKit trunks")
    op.kill()  # mid-reconcile: some trunks created, statuses not all patched
    op = operator_factory(livekit_endpoint)
    for i in range(count):
        wait_condition(kube, op, f"t{i}", "Ready", "True")
    for i in range(count):
        assert len(await owned(livekit, kube, f"t{i}")) == 2, f"t{i}"
    assert len(await livekit.list_inbound_trunks()) == count
    assert len(await livekit.list_outbound_trunks()) == count


async def test_livekit_outage_flips_then_converges_and_delete_waits(
    kube: Kube,
    livekit: LiveKitClient,
    livekit_endpoint: LiveKitEndpoint,
    livekit_server,
    operator_factory: Factory,
) -> None:
    op = operator_factory(livekit_endpoint)
    create_ready(kube, op, "steady")
    create_ready(kube, op, "doomed", number="+15550100199")
    livekit_server.stop_server()
    try:
        wait_condition(kube, op, "steady", "Synced", "False", "LiveKitUnavailable")
        kube.delete("SipTrunk", "doomed")
        # The finalizer holds the object while LiveKit is away; the operator keeps retrying.
        obj = wait_for(
            lambda: (
                kube.get("SipTrunk", "doomed").get("metadata", {}).get("deletionTimestamp")
                and kube.get("SipTrunk", "doomed")
            ),
            "deletionTimestamp",
        )
        assert "switchboard.dev/finalizer" in obj["metadata"]["finalizers"]
        op.check_alive()
    finally:
        livekit_server.start_server()
    wait_condition(kube, op, "steady", "Synced", "True", timeout=120)
    wait_for(lambda: gone(kube, "doomed"), "the deletion to complete after recovery", 120)
    assert await owned(livekit, kube, "doomed") == []


async def async_wait(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}", pytrace=False)
        await asyncio.sleep(0.2)


def scan_for_secrets(kube: Kube, op: OperatorProcess, name: str) -> None:
    """No Secret value in the operator's logs, the object's events, or its status."""
    texts = {
        "operator log": op.text(),
        "events": json.dumps([e.message for e in events_for(kube, name)]),
        "status": json.dumps(kube.get("SipTrunk", name).get("status")),
        "annotations": json.dumps(kube.get("SipTrunk", name)["metadata"].get("annotations")),
    }
    for secret in (PASSWORD, ROTATED):
        encoded = base64.b64encode(secret.encode()).decode()
        for where, text in texts.items():
            assert secret not in text and encoded not in text, f"secret leaked into {where}"
