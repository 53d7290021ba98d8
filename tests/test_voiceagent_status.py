"""Golden tests of the VoiceAgent status: every LiveKitSynced by workers combination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from switchboard.conditions import set_condition, status_patch
from switchboard.scaling import Decision
from switchboard.voiceagent.fleet import AgentFleet
from switchboard.voiceagent.scaler import compose_status

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-12-01T12:00:00Z"
SYNCED = ("True", "Synced", "LiveKit dispatch rule matches the spec")
NOT_SYNCED = ("False", "SecretNotFound", "Secret 'lk' not found in namespace 'team-a'")
INVALID = ("False", "InvalidSpec", "spec.greeting: String should have at least 1 character")


def _fleet(synced: tuple[str, str, str] | None) -> AgentFleet:
    fleet = AgentFleet(key=("team-a", "desk"), generation=3)
    conditions: list[dict[str, Any]] = []
    if synced is not None:
        conditions = set_condition([], "LiveKitSynced", synced[0], synced[1], synced[2],
                                   generation=3, now=NOW)  # fmt: skip
    fleet.spec_status = {"conditions": conditions, "agentName": "team-a-desk"}
    return fleet


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": STAMP, "observedGeneration": 3}  # fmt: skip


WORKERS_UP = Decision(desired=2, raw_desired=2, ready=2, idle=1, busy=1, active_calls=1)
WORKERS_DOWN = Decision(desired=1, raw_desired=1)
NONE_WANTED = Decision(desired=0, raw_desired=0)
UP = ("True", "WorkersAvailable", "2 ready, 1 idle")
DOWN = ("False", "NoReadyWorkers", "0 of 1 workers ready")
ZERO = ("True", "WorkersAvailable", "0 ready, 0 idle")
TAKING = ("True", "Ready", "taking calls")
NO_WORKER = ("False", "NoReadyWorkers", "no ready worker yet")


@pytest.mark.parametrize(
    ("synced", "decision", "workers_ready", "ready"),
    [
        (SYNCED, WORKERS_UP, UP, TAKING),
        (SYNCED, WORKERS_DOWN, DOWN, NO_WORKER),
        (SYNCED, NONE_WANTED, ZERO, TAKING),
        (NOT_SYNCED, WORKERS_UP, UP, NOT_SYNCED),  # Ready carries the sync failure
        (NOT_SYNCED, WORKERS_DOWN, DOWN, NOT_SYNCED),
        (INVALID, WORKERS_DOWN, DOWN, INVALID),
        (None, WORKERS_UP, UP, NO_WORKER),  # the spec handler has not run yet
        (None, WORKERS_DOWN, DOWN, NO_WORKER),
    ],
)  # fmt: skip
def test_status_golden(
    synced: tuple[str, str, str] | None, decision: Decision, workers_ready: tuple[str, str, str],
    ready: tuple[str, str, str],
) -> None:  # fmt: skip
    status = compose_status(_fleet(synced), decision, NOW)
    expected = [_cond("LiveKitSynced", *synced)] if synced else []
    expected += [_cond("WorkersReady", *workers_ready), _cond("Ready", *ready)]
    assert status == {
        "agentName": "team-a-desk", "conditions": expected, "observedGeneration": 3,
        "activeCalls": decision.active_calls,
        "workers": {"desired": decision.desired, "ready": decision.ready,
                    "idle": decision.idle, "busy": decision.busy},
    }  # fmt: skip


def test_status_patch_writes_changes_and_nulls_removed_keys() -> None:
    old = {"a": 1, "b": {"x": 1}, "gone": "y"}
    assert status_patch(old, {"a": 1, "b": {"x": 2}}) == {"b": {"x": 2}, "gone": None}
    assert status_patch(old, dict(old)) == {}  # unchanged: nothing to write
    assert status_patch(None, {"a": 1}) == {"a": 1}
