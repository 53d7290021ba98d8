"""Golden tests for the pure SipTrunk builders, names and conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.json_format import MessageToDict
from livekit import api
from switchboard.api.siptrunk import SipTrunkSpec
from switchboard.conditions import set_condition
from switchboard.livekit.ensure import drifted_fields
from switchboard.names import Owner, bounded, dns_label, owned_by, parse_owner_metadata
from switchboard.siptrunk.builders import (
    INBOUND_FIELDS,
    Credentials,
    inbound_trunk,
    outbound_trunk,
)

pytestmark = pytest.mark.unit

OWNER = Owner("SipTrunk", "telephony", "twilio", "0b6f-uid")
SPEC = SipTrunkSpec.model_validate(
    {
        "inbound": {
            "numbers": ["+14155550123"],
            "allowedAddresses": ["54.172.60.0/30"],
            "authSecretRef": {"name": "creds"},
            "mediaEncryption": "allow",
            "krisp": True,
            "headersToAttributes": {"X-Account": "account"},
            "ringingTimeout": "30s",
            "maxCallDuration": "1h30m",
        },
        "outbound": {
            "address": "example.pstn.twilio.com",
            "transport": "tcp",
            "numbers": ["+14155550123"],
            "destinationCountry": "US",
        },
    }
)
META_IN = (
    '{"kind":"SipTrunk","managedBy":"switchboard","name":"twilio",'
    '"namespace":"telephony","role":"inbound","uid":"0b6f-uid"}'
)


def test_inbound_trunk_golden() -> None:
    assert SPEC.inbound is not None
    info = inbound_trunk(OWNER, SPEC.inbound, Credentials("user", "pw"))
    assert MessageToDict(info) == {
        "name": "telephony/twilio/inbound",
        "metadata": META_IN,
        "numbers": ["+14155550123"],
        "allowedAddresses": ["54.172.60.0/30"],
        "authUsername": "user",
        "authPassword": "pw",
        "headersToAttributes": {"X-Account": "account"},
        "ringingTimeout": "30s",
        "maxCallDuration": "5400s",
        "krispEnabled": True,
        "mediaEncryption": "SIP_MEDIA_ENCRYPT_ALLOW",
    }


def test_outbound_trunk_golden() -> None:
    assert SPEC.outbound is not None
    info = outbound_trunk(OWNER, SPEC.outbound, None)
    assert MessageToDict(info) == {
        "name": "telephony/twilio/outbound",
        "metadata": META_IN.replace('"inbound"', '"outbound"'),
        "address": "example.pstn.twilio.com",
        "transport": "SIP_TRANSPORT_TCP",
        "numbers": ["+14155550123"],
        "destinationCountry": "US",
    }


def test_drift_ignores_server_fields_and_names_changed_ones() -> None:
    assert SPEC.inbound is not None
    desired = inbound_trunk(OWNER, SPEC.inbound, Credentials("user", "pw"))
    actual = api.SIPInboundTrunkInfo()
    actual.CopyFrom(desired)
    actual.sip_trunk_id = "ST_x"
    actual.created_at.seconds = 123
    assert drifted_fields(desired, actual, INBOUND_FIELDS) == []
    actual.auth_password = "rotated"
    del actual.numbers[:]
    actual.ringing_timeout.seconds = 5
    assert drifted_fields(desired, actual, INBOUND_FIELDS) == [
        "numbers",
        "auth_password",
        "ringing_timeout",
    ]


def test_credentials_repr_hides_password() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))


def test_ownership_metadata_round_trip() -> None:
    meta = OWNER.metadata("inbound")
    assert owned_by(meta, OWNER, "inbound")
    assert not owned_by(meta, OWNER, "outbound")
    assert not owned_by(meta, Owner("SipTrunk", "telephony", "twilio", "other-uid"), "inbound")
    assert parse_owner_metadata("not json") is None
    assert parse_owner_metadata('{"managedBy":"someone-else"}') is None


@pytest.mark.parametrize("length", [62, 63, 64, 200])
def test_bounded_names_at_the_limit(length: int) -> None:
    name = "a" * length
    out = bounded(name)
    assert len(out) <= 63
    assert out == name if length <= 63 else out != name
    # Distinct long names stay distinct after truncation.
    assert bounded("a" * 100 + "x") != bounded("a" * 100 + "y")


def test_dns_label() -> None:
    assert dns_label("front-desk", "worker") == "front-desk-worker"
    assert dns_label("Front_Desk", "Worker").startswith("front-desk-worker-")  # cleaned: hashed
    label = dns_label("x" * 80, "worker")
    assert len(label) <= 63 and label[-1].isalnum()


def test_condition_transition_time_only_moves_on_status_change() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    c1 = set_condition([], "Ready", True, "Ok", "fine", generation=1, now=t0)
    c2 = set_condition(
        c1, "Ready", True, "Ok", "still fine", generation=2, now=t0 + timedelta(minutes=5)
    )
    assert c2[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert c2[0]["observedGeneration"] == 2
    c3 = set_condition(
        c2, "Ready", False, "Broken", "x", generation=2, now=t0 + timedelta(minutes=6)
    )
    assert c3[0]["lastTransitionTime"] == "2026-01-01T00:06:00Z"
