"""Sends the agent's audio to the carrier in 20 ms frames at real-time pace, marks in order."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

FRAME_S = 0.020
# how far ahead of real time we may run: enough to ride over event-loop hiccups, small
# enough that a barge-in has little audio left in the carrier's buffer to clear
LEAD_S = 0.060
IDLE_RESET_S = 0.1  # after a gap this long, restart the clock instead of bursting to catch up

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Pacer:
    """A queue of outbound messages (media frames and marks) drained on a real-time clock."""

    def __init__(self, send: Send, media: Callable[[bytes], dict[str, Any]]) -> None:
        self._send = send
        self._media = media
        self._queue: collections.deque[tuple[str, Any]] = collections.deque()
        self._wake = asyncio.Event()
        self.frames_sent = 0
        self.marks_sent = 0

    def frame(self, payload: bytes) -> None:
        self._queue.append(("media", payload))
        self._wake.set()

    def mark(self, message: dict[str, Any]) -> None:
        # a mark queues behind the audio before it, so its echo means "that audio was played"
        self._queue.append(("control", message))
        self._wake.set()

    def drop(self) -> int:
        """Forget every queued frame (barge-in); returns how many were dropped."""
        dropped = sum(1 for kind, _ in self._queue if kind == "media")
        self._queue = collections.deque(item for item in self._queue if item[0] != "media")
        return dropped

    @property
    def queued_frames(self) -> int:
        return sum(1 for kind, _ in self._queue if kind == "media")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = loop.time()
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            kind, item = self._queue.popleft()
            if kind == "control":
                await self._send(item)
                self.marks_sent += 1
                continue
            now = loop.time()
            if clock < now - IDLE_RESET_S:
                clock = now
            ahead = clock - now - LEAD_S
            if ahead > 0:
                await asyncio.sleep(ahead)
            await self._send(self._media(item))
            self.frames_sent += 1
            clock += FRAME_S
