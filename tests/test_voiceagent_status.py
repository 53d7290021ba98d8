"""Golden tests of the VoiceAgent status: every LiveKitSynced by workers combination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from switchboard.conditions import status_patch
from switchboard.outcomes import Failure
from switchboard.scaling import Decision, PredictiveWarm, ScalingParams
from switchboard.voiceagent.status import SpecOutcome, compose_status

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-12-01T12:00:00Z"
SYNCED = ("True", "Synced", "LiveKit dispatch rule matches the spec")
NO_PHONE = ("True", "NoTelephony", "no telephony: no dispatch rule")
NOT_SYNCED = ("False", "SecretNotFound", "Secret 'lk' not found in namespace 'team-a'")
INVALID = ("False", "InvalidSpec", "spec.greeting: String should have at least 1 character")
PARAMS = ScalingParams(
    calls_per_worker=1, warm_workers=1, min_workers=0, max_workers=10, scale_down_delay_s=30.0
)


def _outcome(synced: tuple[str, str, str]) -> SpecOutcome:
    status, reason, message = synced
    failure = None if status == "True" else Failure(reason, message, None)
    return SpecOutcome(
        3, PARAMS, reason, message, failure, agent_name="team-a-desk", dispatch_rule_id="SDR_1"
    )


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": STAMP,
        "observedGeneration": 3,
    }


WORKERS_UP = Decision(
    desired=2, raw_desired=2, ready=2, idle=1, busy=1, active_calls=1, warm_target=1
)
WORKERS_DOWN = Decision(desired=1, raw_desired=1, warm_target=1)
NONE_WANTED = Decision(desired=0, raw_desired=0)
UP = ("True", "WorkersAvailable", "2 ready, 1 idle")
DOWN = ("False", "NoReadyWorkers", "0 of 1 workers ready")
ZERO = ("True", "WorkersAvailable", "0 ready, 0 idle")
TAKING = ("True", "Ready", "taking calls")
NO_WORKER = ("False", "NoReadyWorkers", "no ready worker yet")


# Policy-chain style: each row is (spec pass, fleet) -> the three conditions.
@pytest.mark.parametrize(
    ("synced", "decision", "workers_ready", "ready"),
    [
        (SYNCED, WORKERS_UP, UP, TAKING),
        (SYNCED, WORKERS_DOWN, DOWN, NO_WORKER),
        (SYNCED, NONE_WANTED, ZERO, TAKING),
        (NO_PHONE, WORKERS_UP, UP, TAKING),  # web/outbound-only agents are Ready too
        (NO_PHONE, WORKERS_DOWN, DOWN, NO_WORKER),
        (NOT_SYNCED, WORKERS_UP, UP, NOT_SYNCED),  # Ready carries the sync failure
        (NOT_SYNCED, WORKERS_DOWN, DOWN, NOT_SYNCED),
        (NOT_SYNCED, NONE_WANTED, ZERO, NOT_SYNCED),
        (INVALID, WORKERS_UP, UP, INVALID),
        (INVALID, WORKERS_DOWN, DOWN, INVALID),
    ],
)
def test_status_golden(
    synced: tuple[str, str, str],
    decision: Decision,
    workers_ready: tuple[str, str, str],
    ready: tuple[str, str, str],
) -> None:
    status = compose_status(_outcome(synced), decision, [], NOW).to_wire()
    expected = [
        _cond("LiveKitSynced", *synced),
        _cond("WorkersReady", *workers_ready),
        _cond("Ready", *ready),
    ]
    assert status == {
        "agentName": "team-a-desk",
        "dispatchRuleID": "SDR_1",
        "conditions": expected,
        "observedGeneration": 3,
        "activeCalls": decision.active_calls,
        "workers": {
            "desired": decision.desired,
            "ready": decision.ready,
            "idle": decision.idle,
            "busy": decision.busy,
        },
        "warm": {"mode": "fixed", "target": decision.warm_target},
    }


def test_transition_time_moves_only_when_a_condition_flips() -> None:
    first = compose_status(_outcome(SYNCED), WORKERS_DOWN, [], NOW).to_wire()["conditions"]
    later = NOW + timedelta(minutes=5)
    second = compose_status(_outcome(SYNCED), WORKERS_UP, first, later).to_wire()["conditions"]
    times = {c["type"]: c["lastTransitionTime"] for c in second}
    assert times == {
        "LiveKitSynced": STAMP,  # unchanged
        "WorkersReady": "2026-12-01T12:05:00Z",  # False -> True
        "Ready": "2026-12-01T12:05:00Z",
    }


def test_unknown_stored_conditions_are_kept_after_ours() -> None:
    stored = [
        {
            "type": "Custom",
            "status": "True",
            "reason": "X",
            "message": "",
            "lastTransitionTime": STAMP,
            "observedGeneration": 1,
        }
    ]
    conds = compose_status(_outcome(SYNCED), WORKERS_UP, stored, NOW).to_wire()["conditions"]
    assert [c["type"] for c in conds] == ["LiveKitSynced", "WorkersReady", "Ready", "Custom"]


def test_status_patch_writes_changes_and_nulls_removed_keys() -> None:
    old = {"a": 1, "b": {"x": 1}, "gone": "y"}
    assert status_patch(old, {"a": 1, "b": {"x": 2}}) == {"b": {"x": 2}, "gone": None}
    assert status_patch(old, dict(old)) == {}  # unchanged: nothing to write
    assert status_patch(None, {"a": 1}) == {"a": 1}


def test_a_failed_pass_reports_its_failure_not_its_success_text() -> None:
    """A rule pass that failed keeps the rule ID it knew, but LiveKitSynced says why it failed."""
    why = Failure("TrunkNotReady", "SipTrunk 'main' has no Ready inbound trunk yet", 2.0)
    spec = SpecOutcome(
        3, PARAMS, "Synced", "LiveKit dispatch rule matches the spec", why, dispatch_rule_id="SDR_1"
    )
    status = compose_status(spec, WORKERS_UP, [], NOW).to_wire()
    synced = next(c for c in status["conditions"] if c["type"] == "LiveKitSynced")
    assert (synced["status"], synced["reason"]) == ("False", "TrunkNotReady")
    assert status["dispatchRuleID"] == "SDR_1"


def test_warm_status_shows_what_sized_a_predictive_pool() -> None:
    predictive = ScalingParams(
        calls_per_worker=1,
        warm_workers=1,
        min_workers=0,
        max_workers=10,
        scale_down_delay_s=30.0,
        pod_start_s=12.4,
        predictive=PredictiveWarm(coverage=0.995, minimum=1, maximum=50),
    )
    decision = Decision(desired=9, raw_desired=9, warm_target=7, arrival_rate=0.21347)
    status = compose_status(_outcome(SYNCED), decision, [], NOW, params=predictive).to_wire()
    # Two significant digits and whole seconds: the status follows the traffic, not the noise.
    assert status["warm"] == {
        "mode": "predictive",
        "target": 7,
        "arrivalsPerMinute": "13",
        "podStart": "12s",
    }
    slow = Decision(desired=1, raw_desired=1, warm_target=1, arrival_rate=0.0004)
    again = compose_status(_outcome(SYNCED), slow, [], NOW, params=predictive).to_wire()
    assert again["warm"]["arrivalsPerMinute"] == "0.024"
