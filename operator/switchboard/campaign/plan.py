"""One campaign tick, pure: which calls to create now, and the counts the status shows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from switchboard.api import API_VERSION, GROUP
from switchboard.api.campaign import CallCampaignSpec
from switchboard.api.common import parse_duration
from switchboard.api.outbound import TERMINAL
from switchboard.campaign.targets import BadRow, Row, window_state
from switchboard.names import bounded

CAMPAIGN_LABEL = f"{GROUP}/campaign"
ROW_LABEL = f"{GROUP}/row"
ATTEMPT_LABEL = f"{GROUP}/attempt"
NAME_MAX = 253


@dataclass(frozen=True)
class Child:
    """An OutboundCall of the campaign, as the index sees it."""

    row: int
    attempt: int
    phase: str | None
    result: str | None
    end_time: datetime | None


@dataclass(frozen=True)
class Plan:
    create: list[tuple[Row, int]]  # (target, attempt number)
    cursor: int
    counts: dict[str, int]
    in_flight: int
    remaining: int
    window_open: bool
    next_window: datetime | None
    done: bool
    newly_bad: list[BadRow] = field(default_factory=list)


def _retry_due(spec: CallCampaignSpec, child: Child, now: datetime) -> bool | None:
    """None: final (no retry left); False: a retry waits; True: a retry is due."""
    if child.result == "answered":
        return None
    rule = next((r for r in spec.retries if r.result == child.result), None)
    if rule is None or child.attempt - 1 >= rule.attempts:
        return None
    if child.end_time is None:
        return False
    return (now - child.end_time).total_seconds() >= parse_duration(rule.after).total_seconds()


def plan(
    spec: CallCampaignSpec,
    rows: list[Row | BadRow],
    children: list[Child],
    *,
    tz: ZoneInfo,
    now: datetime,
    cursor: int,
    budget: int,
) -> Plan:
    """What to do now. `budget`: how many calls the pace allows this tick."""
    latest: dict[int, Child] = {}
    for child in children:
        if child.row not in latest or child.attempt > latest[child.row].attempt:
            latest[child.row] = child
    in_flight = sum(1 for c in children if c.phase not in TERMINAL)
    window_open, next_window = window_state(spec.calling_windows, tz, now)
    allow = 0 if spec.suspend or not window_open else budget
    allow = max(0, min(allow, spec.max_concurrent_calls - in_flight))
    counts: Counter[str] = Counter()
    create: list[tuple[Row, int]] = []
    finished = 0
    by_index = {r.index: r for r in rows}
    for index, child in sorted(latest.items()):
        if child.phase not in TERMINAL:
            continue
        due = _retry_due(spec, child, now)
        if due is None:
            counts[child.result or "failed"] += 1
            finished += 1
        elif due and allow > 0 and isinstance(by_index.get(index), Row):
            row = by_index[index]
            assert isinstance(row, Row)
            create.append((row, child.attempt + 1))
            allow -= 1
    cursor = max(cursor, max(latest, default=-1) + 1)
    # bad rows before the cursor were reported when it passed them
    invalid = sum(1 for r in rows[:cursor] if isinstance(r, BadRow))
    newly_bad: list[BadRow] = []
    while cursor < len(rows):
        row = rows[cursor]
        if isinstance(row, BadRow):
            newly_bad.append(row)
        elif allow > 0:
            create.append((row, 1))
            allow -= 1
        else:
            break
        cursor += 1
    invalid += len(newly_bad)
    counts["invalid"] = invalid
    remaining = len(rows) - finished - invalid
    done = remaining == 0 and cursor >= len(rows)
    return Plan(
        create, cursor, dict(counts), in_flight, remaining, window_open, next_window, done,
        newly_bad,
    )  # fmt: skip


def child_name(campaign: str, row: int, attempt: int) -> str:
    """Deterministic, so a restarted operator re-creating a call gets AlreadyExists, not a
    second call: the object's existence is the campaign's record of the intent."""
    base = f"{campaign}-{row}" if attempt == 1 else f"{campaign}-{row}-r{attempt}"
    return bounded(base, NAME_MAX)


def child_manifest(
    campaign: dict[str, Any], spec: CallCampaignSpec, row: Row, attempt: int
) -> dict[str, Any]:
    """The OutboundCall for one attempt at one target, owned by the campaign."""
    meta = campaign["metadata"]
    call_spec: dict[str, Any] = {
        "voiceAgentRef": spec.voice_agent_ref.to_wire(),
        "to": row.to,
        "trunkRef": spec.trunk_ref.to_wire(),
        "context": dict(row.context),
        "ringingTimeout": spec.ringing_timeout,
        "maxCallDuration": spec.max_call_duration,
    }
    if spec.from_:
        call_spec["from"] = spec.from_
    return {
        "apiVersion": API_VERSION,
        "kind": "OutboundCall",
        "metadata": {
            "name": child_name(meta["name"], row.index, attempt),
            "namespace": meta["namespace"],
            "labels": {
                CAMPAIGN_LABEL: bounded(meta["name"]),
                ROW_LABEL: str(row.index),
                ATTEMPT_LABEL: str(attempt),
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "CallCampaign",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": call_spec,
    }
