"""The per-namespace outbound cap: slots counted from the index plus this process's own moves."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass
class Slots:
    """Who holds a slot of each namespace's cap.

    The index (kopf's watch) lags our own writes by a few milliseconds to seconds, so a call
    this process just moved in flight is `reserved` until the index lists it, and one it
    just ended is `released` until the index drops it. The lock per namespace makes
    "count, then take" atomic between concurrent handlers."""

    reserved: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    released: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    def lock(self, namespace: str) -> asyncio.Lock:
        return self._locks[namespace]

    def holders(self, namespace: str, indexed: Collection[str]) -> set[str]:
        """The calls holding a slot now; forgets what the index has caught up with."""
        listed = set(indexed)
        self.reserved[namespace] -= listed
        self.released[namespace] &= listed
        return (listed | self.reserved[namespace]) - self.released[namespace]

    def take(self, namespace: str, uid: str) -> None:
        self.reserved[namespace].add(uid)
        self.released[namespace].discard(uid)

    def release(self, namespace: str, uid: str) -> None:
        self.reserved[namespace].discard(uid)
        self.released[namespace].add(uid)
