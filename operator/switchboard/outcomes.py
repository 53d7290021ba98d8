"""What a reconcile pass hands back to its handler: a typed result, events, failure, delays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 60.0
# A rejected object will not fix itself quickly: retry slowly, no storm of identical calls.
REJECTED_BACKOFF_S = 30.0


def backoff(retry: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff: 1, 2, 4, ... seconds, capped."""
    return float(min(cap, base * (2 ** min(retry, 16))))


T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """Why a pass stopped: the condition's reason and message, and when to retry (None: never)."""

    reason: str
    message: str
    retry_s: float | None


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class Result(Generic[T]):
    """One reconcile pass, for every kind: what it established, events, why it stopped short."""

    value: T
    events: list[Event] = field(default_factory=list)
    failure: Failure | None = None

    @property
    def retry_after(self) -> float | None:
        return self.failure.retry_s if self.failure else None
