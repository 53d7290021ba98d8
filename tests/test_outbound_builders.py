"""OutboundCall builders (pure, golden), SIP result classes, the namespace slots, cap config."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from switchboard import reasons
from switchboard.api.outbound import OutboundCallSpec
from switchboard.config import OperatorConfig, parse_caps
from switchboard.outbound import builders
from switchboard.outbound.builders import AgentInfo, Resolved, TrunkInfo
from switchboard.outbound.caps import Slots
from switchboard.outcomes import Failure
from switchboard_contract.outbound import CallRef, CallReport, classify

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
SPEC = OutboundCallSpec.model_validate(
    {
        "voiceAgentRef": {"name": "desk"},
        "to": "+15557770123",
        "trunkRef": {"name": "carrier"},
        "context": {"appointment": "Tuesday 10am"},
        "ringingTimeout": "20s",
        "maxCallDuration": "5m",
    }
)
AGENT = AgentInfo("team-a/desk", None)
TRUNK = TrunkInfo("ST_out", ("+15550100100",), True, None)
REF = CallRef(namespace="team-a", name="remind-1", uid="u-1")


def test_mask_number_keeps_country_area_and_last_four() -> None:
    assert builders.mask_number("+15550100100") == "+1555•••0100"
    assert builders.mask_number("+4930123") == "+•••23"


def test_sip_finals_map_to_results() -> None:
    assert [classify(c) for c in (200, 486, 600, 603, 403, 408, 480, 487, 500, None)] == [
        "answered", "busy", "busy", "rejected", "rejected",
        "no-answer", "no-answer", "no-answer", "failed", "failed",
    ]  # fmt: skip


def test_resolve_golden() -> None:
    assert builders.resolve("team-a", SPEC, AGENT, TRUNK) == Resolved(
        "team-a/desk", "ST_out", "+15550100100", None
    )


@pytest.mark.parametrize(
    ("spec", "agent", "trunk", "reason", "retry"),
    [
        ({"voiceAgentRef": {"name": "desk", "namespace": "team-b"}}, AGENT, TRUNK,
         reasons.CROSS_NAMESPACE, None),
        ({}, None, TRUNK, reasons.VOICEAGENT_NOT_FOUND, builders.WAIT_REF_S),
        ({}, AgentInfo(None, None), TRUNK, reasons.VOICEAGENT_NOT_READY, builders.WAIT_REF_S),
        ({}, AGENT, None, reasons.TRUNK_NOT_FOUND, builders.WAIT_REF_S),
        ({}, AGENT, TrunkInfo(None, (), False, None), reasons.NO_OUTBOUND, 30.0),
        ({}, AGENT, TrunkInfo(None, ("+15550100100",), True, None), reasons.TRUNK_NOT_READY,
         builders.WAIT_REF_S),
        ({}, AgentInfo("a", "lk-a"), TRUNK, reasons.LIVEKIT_MISMATCH, 30.0),
        ({"from": "+15550000000"}, AGENT, TRUNK, reasons.NUMBER_NOT_ON_TRUNK_OUTBOUND, 30.0),
    ],
)  # fmt: skip
def test_resolve_refusals_name_the_problem(
    spec: dict, agent: AgentInfo | None, trunk: TrunkInfo | None, reason: str, retry: float | None
) -> None:
    changed = OutboundCallSpec.model_validate({**SPEC.to_wire(), **spec})
    why = builders.resolve("team-a", changed, agent, trunk)
    assert isinstance(why, Failure)
    assert (why.reason, why.retry_s) == (reason, retry)
    assert "+1555000" not in why.message  # a refused caller ID is masked too


def test_dial_metadata_golden() -> None:
    found = builders.resolve("team-a", SPEC, AGENT, TRUNK)
    assert isinstance(found, Resolved)
    assert json.loads(builders.dial_metadata(REF, SPEC, found)) == {
        "call": {"name": "remind-1", "namespace": "team-a", "uid": "u-1"},
        "context": {"appointment": "Tuesday 10am"},
        "fromNumber": "+15550100100",
        "maxCallDurationS": 300.0,
        "ringingTimeoutS": 20.0,
        "sipTrunkId": "ST_out",
        "to": "+15557770123",
    }


def test_intent_then_claim_then_answer_then_end() -> None:
    pending = builders.pending_status(
        {}, gen=1, now=NOW, why=Failure(reasons.DISPATCHED, "", 0.0), to=SPEC.to, agent="desk"
    )
    assert (pending["phase"], pending["toMasked"], pending["agent"]) == (
        "Pending", "+1555•••0123", "desk",
    )  # fmt: skip
    intent = builders.intent_status(pending, gen=1, now=NOW, room="oc-u-1")
    assert (intent["phase"], intent["room"], intent["startTime"]) == (
        "Dialing", "oc-u-1", "2026-12-02T03:30:00Z",
    )  # fmt: skip
    assert "dialTime" not in intent  # Dialing without dialTime: never dialled

    def report(event: str, at: float, **kw: object) -> CallReport:
        return CallReport.model_validate(
            {"namespace": "team-a", "voiceAgent": "desk", "call": REF.model_dump(),
             "jobId": "AJ_1", "event": event, "at": at, **kw}
        )  # fmt: skip

    t0 = NOW.timestamp()
    ringing = builders.report_status(intent, report("dialing", t0 + 1))
    assert (ringing["phase"], ringing["jobID"], ringing["dialTime"]) == (
        "Ringing", "AJ_1", "2026-12-02T03:30:01Z",
    )  # fmt: skip
    talking = builders.report_status(ringing, report("answered", t0 + 3, sipCallId="SCL_1"))
    assert (talking["phase"], talking["result"], talking["sipCallID"]) == (
        "InProgress", "answered", "SCL_1",
    )  # fmt: skip
    done = builders.report_status(
        talking,
        report("ended", t0 + 68, result="answered", sipStatus=200, answeredAt=t0 + 3),
    )
    assert (done["phase"], done["durationSeconds"], done["duration"], done["endTime"]) == (
        "Completed", 65, "1m5s", "2026-12-02T03:31:08Z",
    )  # fmt: skip
    assert builders.condition_of(done) == (reasons.CALL_COMPLETED, "answered (SIP 200)")


def test_busy_ends_failed_with_the_code() -> None:
    ref = REF.model_dump()
    body = {"namespace": "team-a", "voiceAgent": "desk", "call": ref, "jobId": "AJ_1"}
    report = CallReport.model_validate(
        {**body, "event": "ended", "at": NOW.timestamp(), "result": "busy", "sipStatus": 486}
    )
    out = builders.report_status({"phase": "Ringing"}, report)
    assert (out["phase"], out["result"], out["sipStatus"]) == ("Failed", "busy", 486)
    assert builders.condition_of(out) == (reasons.CALL_FAILED, "busy (SIP 486)")


def test_lost_deadline_and_format() -> None:
    assert builders.lost_after_s(SPEC) == 20 + 300 + builders.LOST_MARGIN_S
    assert [builders.format_duration(s) for s in (0, 59, 61, 3601)] == [
        "0s", "59s", "1m1s", "1h0m1s",
    ]  # fmt: skip


def test_slots_count_own_moves_until_the_index_catches_up() -> None:
    slots = Slots()
    assert slots.holders("ns", []) == set()
    slots.take("ns", "a")
    assert slots.holders("ns", []) == {"a"}  # the index has not seen it yet
    assert slots.holders("ns", ["a"]) == {"a"}
    slots.release("ns", "a")
    assert slots.holders("ns", ["a"]) == set()  # ended here; the index still lists it
    assert slots.holders("ns", []) == set()
    assert slots.holders("other", ["b"]) == {"b"}  # namespaces never share


def test_caps_default_and_override() -> None:
    config = OperatorConfig.from_env(
        {
            "SWITCHBOARD_OUTBOUND_MAX_CALLS": "7",
            "SWITCHBOARD_OUTBOUND_NAMESPACE_MAX_CALLS": "team-a=2, team-b=0",
        }
    )
    assert [config.outbound_cap(n) for n in ("team-a", "team-b", "team-c")] == [2, 0, 7]
    assert OperatorConfig().outbound_cap("x") == 10
    with pytest.raises(ValueError, match="not ns=N"):
        parse_caps("team-a:5")
