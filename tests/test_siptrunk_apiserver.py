"""SipTrunk against the real kube-apiserver: CRDs, examples, schema/CEL rejections, status, GC."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.kube import DELETE, GROUP, VERSION, Kube, mutate, rejection, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

TRUNK: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "SipTrunk",
    "metadata": {"name": "carrier"},
    "spec": {
        "inbound": {"numbers": ["+15105550100"], "allowedAddresses": ["203.0.113.0/24"]},
        "outbound": {"address": "sip.example.com:5060", "numbers": ["+15105550100"]},
    },
}

# (id, changes to TRUNK, field path the server must name, fragment of its message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # CEL rules
    (
        "neither-direction",
        {"spec.inbound": DELETE, "spec.outbound": DELETE, "spec.deletionPolicy": "Delete"},
        "spec",
        "at least one of spec.inbound or spec.outbound is required",
    ),
    (
        "inbound-without-match",
        {"spec.inbound": {"krisp": True}},
        "spec.inbound",
        "an inbound trunk needs at least one of numbers, allowedAddresses or authSecretRef",
    ),
    (
        "allowed-address-not-ip",
        {"spec.inbound.allowedAddresses": ["10.0.0.1", "carrier.example.com"]},
        "spec.inbound.allowedAddresses",
        "must be an IP address or a CIDR",
    ),
    # patterns
    (
        "inbound-number-not-e164",
        {"spec.inbound.numbers": ["15105550100"]},
        "spec.inbound.numbers[0]",
        "should match",
    ),
    (
        "allowed-number-not-e164",
        {"spec.inbound.allowedNumbers": ["+0123"]},
        "spec.inbound.allowedNumbers[0]",
        "should match",
    ),
    (
        "outbound-address-is-uri",
        {"spec.outbound.address": "sip:carrier.example.com"},
        "spec.outbound.address",
        "should match",
    ),
    (
        "country-lowercase",
        {"spec.outbound.destinationCountry": "us"},
        "spec.outbound.destinationCountry",
        "should match",
    ),
    (
        "ringing-timeout-words",
        {"spec.inbound.ringingTimeout": "thirty seconds"},
        "spec.inbound.ringingTimeout",
        "should match",
    ),
    (
        "ringing-timeout-zero",
        {"spec.inbound.ringingTimeout": "0s"},
        "spec.inbound.ringingTimeout",
        "must be between 1s and 10m",
    ),
    (
        "max-call-duration-overflow",
        {"spec.inbound.maxCallDuration": "99999999999h"},
        "spec.inbound.maxCallDuration",
        "spec.inbound.maxCallDuration",
    ),
    # enums
    (
        "media-encryption-enum",
        {"spec.inbound.mediaEncryption": "sometimes"},
        "spec.inbound.mediaEncryption",
        "Unsupported value",
    ),
    (
        "transport-enum",
        {"spec.outbound.transport": "sctp"},
        "spec.outbound.transport",
        "Unsupported value",
    ),
    (
        "deletion-policy-enum",
        {"spec.deletionPolicy": "Keep"},
        "spec.deletionPolicy",
        "Unsupported value",
    ),
    # types, required fields, bounds, list semantics
    ("krisp-type", {"spec.inbound.krisp": "yes"}, "spec.inbound.krisp", "boolean"),
    ("numbers-type", {"spec.inbound.numbers": "+15105550100"}, "spec.inbound.numbers", "array"),
    (
        "outbound-numbers-required",
        {"spec.outbound.numbers": DELETE},
        "spec.outbound.numbers",
        "Required value",
    ),
    (
        "outbound-numbers-empty",
        {"spec.outbound.numbers": []},
        "spec.outbound.numbers",
        "at least 1 items",
    ),
    (
        "auth-secret-name-required",
        {"spec.outbound.authSecretRef": {"usernameKey": "user"}},
        "spec.outbound.authSecretRef.name",
        "Required value",
    ),
    (
        "numbers-duplicate",
        {"spec.inbound.numbers": ["+15105550100", "+15105550100"]},
        "spec.inbound.numbers[1]",
        "Duplicate value",
    ),
    ("spec-required", {"spec": DELETE}, "spec", "Required value"),
]


@pytest.mark.parametrize(
    "changes,field,fragment", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_siptrunk_is_rejected_naming_the_field(
    kube: Kube, changes: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ApiException) as caught:
        kube.create(mutate(TRUNK, changes))
    message = rejection(caught.value)
    assert caught.value.status == 422, message
    assert field in message, message
    assert fragment in message, message


def test_unknown_field_is_rejected_with_strict_validation(kube: Kube) -> None:
    body = mutate(TRUNK, {"spec.inbound.numbrs": ["+15105550100"]})
    with pytest.raises(ApiException) as caught:
        kube.custom.create_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "siptrunks", body, field_validation="Strict"
        )
    assert 'unknown field "spec.inbound.numbrs"' in rejection(caught.value)


def test_crds_are_established_and_served(kube: Kube, kube_crds: list[str]) -> None:
    assert sorted(kube_crds) == [
        "callcampaigns.switchboard.dev",
        "outboundcalls.switchboard.dev",
        "siptrunks.switchboard.dev",
        "voiceagents.switchboard.dev",
    ]
    served = client.CustomObjectsApi(kube.api).list_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, "siptrunks"
    )
    assert served["items"] == []


def test_valid_trunk_gets_schema_defaults(kube: Kube) -> None:
    created = kube.create(TRUNK)
    spec = created["spec"]
    assert spec["deletionPolicy"] == "Delete"
    assert spec["inbound"]["mediaEncryption"] == "disable"
    assert spec["outbound"]["transport"] == "auto"


def test_status_subresource_ignores_spec_changes(kube: Kube) -> None:
    created = kube.create(TRUNK)
    changed_spec = {"spec": {"deletionPolicy": "Orphan"}, "status": {"observedGeneration": 1}}
    patched = kube.patch_status("SipTrunk", "carrier", changed_spec)
    assert patched["status"]["observedGeneration"] == 1
    now = kube.get("SipTrunk", "carrier")
    assert now["spec"] == created["spec"]
    assert now["metadata"]["generation"] == created["metadata"]["generation"]
    # ...and the main resource ignores status: a spec update cannot forge status.
    kube.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        kube.namespace,
        "siptrunks",
        "carrier",
        {"spec": {"deletionPolicy": "Orphan"}, "status": {"observedGeneration": 99}},
    )
    now = kube.get("SipTrunk", "carrier")
    assert now["spec"]["deletionPolicy"] == "Orphan"
    assert now["metadata"]["generation"] == created["metadata"]["generation"] + 1
    assert now["status"]["observedGeneration"] == 1


def test_deleting_trunk_garbage_collects_owned_configmap(kube: Kube) -> None:
    trunk = kube.create(TRUNK)
    owner = client.V1OwnerReference(
        api_version=f"{GROUP}/{VERSION}",
        kind="SipTrunk",
        name=trunk["metadata"]["name"],
        uid=trunk["metadata"]["uid"],
        controller=True,
        block_owner_deletion=True,
    )
    child = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="carrier-routing", owner_references=[owner]),
        data={"numbers": "+15105550100"},
    )
    kube.core.create_namespaced_config_map(kube.namespace, child)
    kube.delete("SipTrunk", "carrier")

    def configmap_gone() -> bool:
        names = [
            cm.metadata.name for cm in kube.core.list_namespaced_config_map(kube.namespace).items
        ]
        return "carrier-routing" not in names

    # The GC notices a new CRD kind at its next discovery resync (every 30 s), hence the margin.
    wait_for(configmap_gone, "the garbage collector to delete the owned ConfigMap", timeout=180)
