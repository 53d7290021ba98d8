"""Model behaviour: defaults, durations and the wire form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from switchboard.api.common import parse_duration
from switchboard.api.siptrunk import SipTrunkSpec, SipTrunkStatus
from switchboard.api.voiceagent import VoiceAgentSpec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("1.5m", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "1d", "-1s", "s", "1h 30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["169h", "100000000000000s", "167h61m"])
def test_parse_duration_caps_at_a_week(text: str) -> None:
    """The CRD pattern admits any length; past a week it is a typo (and 10^14 s overflows)."""
    assert parse_duration("168h") == timedelta(days=7)
    with pytest.raises(ValueError, match="longer than 168h"):
        parse_duration(text)


def test_siptrunk_defaults_and_wire_form() -> None:
    spec = SipTrunkSpec.model_validate({"inbound": {"numbers": ["+15550100100"]}})
    assert spec.deletion_policy == "Delete"
    assert spec.inbound is not None and spec.inbound.media_encryption == "disable"
    assert spec.to_wire() == {
        "inbound": {
            "numbers": ["+15550100100"],
            "allowedAddresses": [],
            "allowedNumbers": [],
            "mediaEncryption": "disable",
            "krisp": False,
            "headersToAttributes": {},
        },
        "deletionPolicy": "Delete",
    }


def test_status_uses_id_aliases() -> None:
    status = SipTrunkStatus(inbound_trunk_id="ST_a", observed_generation=2)
    assert status.to_wire() == {"conditions": [], "observedGeneration": 2, "inboundTrunkID": "ST_a"}


def test_voiceagent_scaling_defaults() -> None:
    spec = VoiceAgentSpec.model_validate(
        {"realtime": {"provider": "openai", "apiKeySecretRef": {"name": "k", "key": "v"}}}
    )
    assert (spec.scaling.calls_per_worker, spec.scaling.warm_workers) == (1, 1)
    assert spec.telemetry.redact_pii is True


def test_model_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        SipTrunkSpec.model_validate({"inbound": {"numbers": ["5550100"]}})
    assert "inbound.numbers.0" in str(err.value)
