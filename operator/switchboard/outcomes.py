"""What a reconcile pass hands back to its handler: Kubernetes events and retry delays."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.livekit.ensure import Outcome

BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 60.0
# A rejected object will not fix itself quickly: retry slowly, no storm of identical calls.
REJECTED_BACKOFF_S = 30.0


def backoff(retry: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff: 1, 2, 4, ... seconds, capped."""
    return float(min(cap, base * (2 ** min(retry, 16))))


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" or "Warning"
    reason: str
    message: str


_VERBS = {"created": "Created", "adopted": "Adopted", "updated": "Updated",
          "recreated": "Recreated"}  # fmt: skip


def outcome_event(what: str, outcome: Outcome) -> Event | None:
    """A Normal event describing what `ensure` did to `what` (None when nothing changed)."""
    if outcome.action == "unchanged":
        return None
    verb = _VERBS[outcome.action]
    detail = f" (drift in {', '.join(outcome.drift)})" if outcome.drift else ""
    if outcome.removed_duplicates:
        detail += f"; removed duplicates {', '.join(outcome.removed_duplicates)}"
    return Event("Normal", verb, f"{verb} {what} {outcome.object_id}{detail}")
