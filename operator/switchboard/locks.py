"""Per-object asyncio locks from one registry, so every path to an object takes the same one."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class LockRegistry:
    """A lock per key, made on first use and dropped with `forget` when the object goes.

    Keys name what is serialized: a UID for an object's spec passes (handlers, timers and
    nudges would otherwise race to create one LiveKit object), ("fleet", ns, name) for a
    VoiceAgent's scaling decisions.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def __getitem__(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def forget(self, key: Hashable) -> None:
        self._locks.pop(key, None)
