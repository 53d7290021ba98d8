"""One call's lifecycle: wiring session close to job shutdown and the maxCallDuration limit."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import AgentSession, JobContext
from livekit.agents.voice import CloseEvent
from opentelemetry import trace

from switchboard_agent.caller_id import CallerInfo
from switchboard_agent.telemetry import ATTR_END_REASON

logger = logging.getLogger("switchboard.agent")

HANG_UP_GRACE = 0.5  # seconds between the agent's last audio and deleting the room


class CallLifecycle:
    """Ends the job when the session closes (hangup, end_call, transfer) or time runs out."""

    def __init__(
        self, ctx: JobContext, session: AgentSession[Any], caller: CallerInfo, max_duration: int
    ) -> None:
        self._ctx = ctx
        self._session = session
        self._caller = caller
        self._max_duration = max_duration
        self._root = trace.get_current_span()
        self._timer: asyncio.Task[None] | None = None
        self.end_reason: str | None = None
        self._hang_up_requested = False
        session.on("close", self._on_close)

    def start_timer(self) -> None:
        self._timer = asyncio.create_task(self._limit(), name="max_call_duration")

    async def _limit(self) -> None:
        await asyncio.sleep(self._max_duration)
        logger.info("maxCallDuration reached, ending the call", extra=self._caller.log_fields())
        self.end("max_call_duration", hang_up=True)

    def note_end(self, reason: str) -> None:
        """Record why the call ends; the first reason wins (a transfer, then the caller's
        leg closing, is a transfer)."""
        if self.end_reason is None:
            self.end_reason = reason
            self._root.set_attribute(ATTR_END_REASON, reason)

    def request_hang_up(self, reason: str) -> None:
        """Hang up on the caller when the job shuts down (the agent ended the call)."""
        self.note_end(reason)
        if not self._hang_up_requested:
            self._hang_up_requested = True
            self._ctx.add_shutdown_callback(self._hang_up)

    def end(self, reason: str, *, hang_up: bool) -> None:
        """End the call now: close the session, and hang up on the caller when asked to."""
        if hang_up:
            self.request_hang_up(reason)
        else:
            self.note_end(reason)
        self._session.shutdown(drain=False)
        self._ctx.shutdown(reason=reason)

    async def _hang_up(self) -> None:
        # the last audio frames are still in the caller's jitter buffer / the SIP bridge
        await asyncio.sleep(HANG_UP_GRACE)
        await self._ctx.delete_room()

    def _on_close(self, ev: CloseEvent) -> None:
        if self._timer is not None:
            self._timer.cancel()
        reason = ev.reason.value if hasattr(ev.reason, "value") else str(ev.reason)
        logger.info("call ended", extra={**self._caller.log_fields(), "reason": reason})
        self.note_end(reason)
        self._ctx.shutdown(reason=reason)
