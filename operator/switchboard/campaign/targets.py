"""Campaign targets and calling windows, pure: rows from inline/CSV, window open/next opening."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard_contract.outbound import E164_PATTERN

from switchboard.api.campaign import CallCampaignSpec, CallingWindow, Target

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CONTEXT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Row:
    """A usable target; `index` is its row (0-based over inline targets, then CSV rows)."""

    index: int
    to: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRow:
    """A target the operator cannot call; `why` names the problem, never the number."""

    index: int
    why: str


def _row(index: int, to: str, context: dict[str, str], where: str) -> Row | BadRow:
    to = to.strip()
    if not re.fullmatch(E164_PATTERN, to):
        return BadRow(index, f"{where}: the number is not E.164 (+ and 2-15 digits)")
    bad = sorted(k for k in context if not _CONTEXT_KEY.fullmatch(k))
    if bad:
        return BadRow(index, f"{where}: context key {bad[0][:63]!r} is not a valid name")
    return Row(index, to, context)


def inline_rows(targets: list[Target]) -> list[Row | BadRow]:
    return [_row(i, t.to, dict(t.context), f"spec.targets[{i}]") for i, t in enumerate(targets)]


def csv_rows(text: str, number_column: str, first_index: int) -> list[Row | BadRow]:
    """One target per CSV row after the header; a broken row is a BadRow naming its line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [BadRow(first_index, "CSV line 1: no header row")]
    header = [h.strip() for h in header]
    if number_column not in header:
        return [BadRow(first_index, f"CSV line 1: no column {number_column!r}")]
    col = header.index(number_column)
    out: list[Row | BadRow] = []
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            line += 1
            out.append(BadRow(first_index + len(out), f"CSV line {line}: {err}"))
            continue
        line += 1
        if not cells or all(not c.strip() for c in cells):
            continue  # blank lines are not targets
        index, where = first_index + len(out), f"CSV line {line}"
        if len(cells) != len(header):
            out.append(
                BadRow(index, f"{where}: {len(cells)} columns, the header has {len(header)}")
            )
            continue
        context = {h: c for i, (h, c) in enumerate(zip(header, cells, strict=True)) if i != col}
        out.append(_row(index, cells[col], context, where))
    return out


def all_rows(spec: CallCampaignSpec, csv_text: str | None) -> list[Row | BadRow]:
    rows = inline_rows(spec.targets)
    if spec.targets_from is not None and csv_text is not None:
        rows += csv_rows(csv_text, spec.targets_from.number_column, len(rows))
    return rows


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _bounds(day: datetime, window: CallingWindow) -> tuple[datetime, datetime]:
    (sh, sm), (eh, em) = (map(int, t.split(":")) for t in (window.start, window.end))
    return (
        day.replace(hour=sh, minute=sm, second=0, microsecond=0),
        day.replace(hour=eh, minute=em, second=0, microsecond=0),
    )


def window_state(
    windows: list[CallingWindow], tz: ZoneInfo, now: datetime
) -> tuple[bool, datetime | None]:
    """(open now, next opening) for `now` (aware); no windows means always open."""
    if not windows:
        return True, None
    local = now.astimezone(tz)
    best: datetime | None = None
    for offset in range(8):
        day = local + timedelta(days=offset)
        for window in windows:
            if DAYS[day.weekday()] not in window.days:
                continue
            start, end = _bounds(day, window)
            if start <= local < end:
                return True, None
            if start > local and (best is None or start < best):
                best = start
    return False, best
