"""CallCampaign, pure: targets (inline, CSV), calling windows (injected clock), one tick's plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from switchboard.api.campaign import CallCampaignSpec
from switchboard.campaign.plan import Child, child_manifest, child_name, plan
from switchboard.campaign.targets import BadRow, Row, all_rows, csv_rows, window_state

pytestmark = pytest.mark.unit

UTC_ZONE = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
# Wednesday 2026-12-02 12:00 UTC = 07:00 in New York
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def spec(**extra: object) -> CallCampaignSpec:
    return CallCampaignSpec.model_validate(
        {"voiceAgentRef": {"name": "desk"}, "trunkRef": {"name": "carrier"}, **extra}
    )


def numbers(n: int) -> list[Row | BadRow]:
    return [Row(i, f"+1555000{i:04d}") for i in range(n)]


def test_csv_rows_name_the_line_and_keep_context() -> None:
    text = (
        "number,name\n+15550000001,Ann\nnot-a-number,Bob\n\n"
        "+15550000003,Cy,extra\n+15550000004,Di\n"
    )
    rows = csv_rows(text, "number", 2)
    assert rows[0] == Row(2, "+15550000001", {"name": "Ann"})
    assert rows[1] == BadRow(3, "CSV line 3: the number is not E.164 (+ and 2-15 digits)")
    assert rows[2] == BadRow(4, "CSV line 5: 3 columns, the header has 2")
    assert rows[3] == Row(5, "+15550000004", {"name": "Di"})
    assert "not-a-number" not in str(rows)  # a refused value is never echoed
    assert csv_rows("phone\n+1555", "number", 0) == [BadRow(0, "CSV line 1: no column 'number'")]


def test_inline_then_csv_rows_are_numbered_in_order() -> None:
    s = spec(
        targets=[{"to": "+15550000001"}, {"to": "12345"}],
        targetsFrom={"configMapRef": {"name": "list"}},
    )
    rows = all_rows(s, "number\n+15550000002\n")
    assert [type(r).__name__ for r in rows] == ["Row", "BadRow", "Row"]
    assert rows[1] == BadRow(1, "spec.targets[1]: the number is not E.164 (+ and 2-15 digits)")
    assert rows[2].index == 2


WEEKDAYS = [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00", "end": "17:00"}]


def test_window_closed_now_opens_at_nine_local() -> None:
    s = spec(callingWindows=WEEKDAYS, timeZone="America/New_York")
    is_open, opens = window_state(s.calling_windows, NY, NOW)
    assert not is_open
    assert opens == datetime(2026, 12, 2, 9, 0, tzinfo=NY)
    assert window_state(s.calling_windows, NY, NOW + timedelta(hours=2)) == (True, None)
    friday_evening = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # 18:00 in New York
    assert window_state(s.calling_windows, NY, friday_evening)[1] == datetime(
        2026, 12, 7, 9, 0, tzinfo=NY
    )
    assert window_state([], NY, NOW) == (True, None)


def test_nothing_is_created_while_the_window_is_closed() -> None:
    s = spec(callingWindows=WEEKDAYS, timeZone="America/New_York")
    step = plan(s, numbers(3), [], tz=NY, now=NOW, cursor=0, budget=5)
    assert step.create == [] and step.cursor == 0 and not step.window_open
    assert step.next_window == datetime(2026, 12, 2, 9, 0, tzinfo=NY)
    later = plan(s, numbers(3), [], tz=NY, now=NOW + timedelta(hours=2), cursor=0, budget=5)
    assert [r.index for r, _ in later.create] == [0, 1, 2]


def test_ten_thousand_targets_materialise_only_max_concurrent() -> None:
    s = spec(maxConcurrentCalls=5)
    rows = numbers(10_000)
    step = plan(s, rows, [], tz=UTC_ZONE, now=NOW, cursor=0, budget=100)
    assert [(r.index, a) for r, a in step.create] == [(i, 1) for i in range(5)]
    busy = [Child(i, 1, "Ringing", None, None) for i in range(5)]
    assert plan(s, rows, busy, tz=UTC_ZONE, now=NOW, cursor=5, budget=100).create == []
    one_done = [Child(0, 1, "Completed", "answered", NOW), *busy[1:]]
    step = plan(s, rows, one_done, tz=UTC_ZONE, now=NOW, cursor=5, budget=100)
    assert [(r.index, a) for r, a in step.create] == [(5, 1)]
    assert (step.counts["answered"], step.remaining, step.in_flight) == (1, 9_999, 4)


def test_retries_wait_their_delay_and_stop_after_their_attempts() -> None:
    s = spec(retries=[{"result": "no-answer", "attempts": 2, "after": "1h"}])
    rows = numbers(1)
    first = [Child(0, 1, "Failed", "no-answer", NOW)]
    assert plan(s, rows, first, tz=UTC_ZONE, now=NOW, cursor=1, budget=1).create == []
    hour = NOW + timedelta(hours=1)
    step = plan(s, rows, first, tz=UTC_ZONE, now=hour, cursor=1, budget=1)
    assert [(r.index, a) for r, a in step.create] == [(0, 2)]
    third = [
        *first,
        Child(0, 2, "Failed", "no-answer", hour),
        Child(0, 3, "Failed", "no-answer", hour),
    ]
    step = plan(s, rows, third, tz=UTC_ZONE, now=hour + timedelta(hours=2), cursor=1, budget=1)
    assert step.create == [] and step.done and step.counts["no-answer"] == 1


def test_busy_is_final_without_a_policy_and_bad_rows_do_not_block() -> None:
    rows: list[Row | BadRow] = [BadRow(0, "x"), Row(1, "+15550000001"), BadRow(2, "y")]
    step = plan(spec(), rows, [], tz=UTC_ZONE, now=NOW, cursor=0, budget=5)
    assert [r.index for r, _ in step.create] == [1]
    assert [b.index for b in step.newly_bad] == [0, 2] and step.cursor == 3
    done = plan(spec(), rows, [Child(1, 1, "Failed", "busy", NOW)], tz=UTC_ZONE, now=NOW,
                cursor=3, budget=5)  # fmt: skip
    assert done.done and done.counts == {"busy": 1, "invalid": 2} and done.newly_bad == []


def test_suspend_and_pace_hold_new_calls() -> None:
    rows = numbers(3)
    assert plan(spec(suspend=True), rows, [], tz=UTC_ZONE, now=NOW, cursor=0, budget=5).create == []
    assert len(plan(spec(), rows, [], tz=UTC_ZONE, now=NOW, cursor=0, budget=1).create) == 1


def test_child_names_are_deterministic_and_owned() -> None:
    assert child_name("remind", 7, 1) == "remind-7"
    assert child_name("remind", 7, 3) == "remind-7-r3"
    camp = {"metadata": {"name": "remind", "namespace": "team-a", "uid": "u-1"}}
    doc = child_manifest(
        camp, spec(**{"from": "+15550100100"}), Row(7, "+15550000007", {"a": "b"}), 2
    )
    assert doc["metadata"]["name"] == "remind-7-r2"
    assert doc["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert doc["spec"] == {
        "voiceAgentRef": {"name": "desk"},
        "to": "+15550000007",
        "trunkRef": {"name": "carrier"},
        "context": {"a": "b"},
        "ringingTimeout": "30s",
        "maxCallDuration": "10m",
        "from": "+15550100100",
    }
