"""callsPerWorker, enforced exactly: our own slot count guards job acceptance (agents #4884)."""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import AgentServer, JobRequest
from prometheus_client import Counter, Gauge

logger = logging.getLogger("switchboard.agent")

_ACCEPTED = Counter("switchboard_agent_jobs_accepted", "Jobs this worker accepted")
_REJECTED = Counter("switchboard_agent_jobs_rejected", "Jobs this worker turned down (full)")
_ACTIVE = Gauge("switchboard_agent_active_calls", "Calls accepted and not finished")
_LIMIT = Gauge("switchboard_agent_calls_per_worker", "The callsPerWorker limit")
_DRAINING = Gauge("switchboard_agent_draining", "1 while draining after SIGTERM")


class CallSlots:
    """Counts accepted-but-not-launched jobs plus running jobs against the limit.

    livekit's load report lags by up to one interval, so two dispatches inside it could
    both be accepted. Every decision here is made under one lock and a slot is taken
    before `accept()` yields, so the count can never exceed `limit`.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("callsPerWorker must be >= 1")
        self.limit = limit
        self.accepted = 0
        self.rejected = 0
        self._pending = 0
        self._lock = asyncio.Lock()
        self._server: AgentServer | None = None
        _LIMIT.set(limit)
        _ACTIVE.set_function(self.in_use)
        _DRAINING.set_function(lambda: float(self.draining))

    def bind(self, server: AgentServer) -> None:
        self._server = server

    @property
    def draining(self) -> bool:
        return self._server is not None and self._server.draining

    def _running(self) -> int:
        if self._server is None or self._server._closed:
            return 0
        return len(self._server.active_jobs)

    def in_use(self) -> int:
        return self._pending + self._running()

    def load(self, server: AgentServer) -> float:
        """load_fnc: the share of slots held by running jobs (1.0 = full at threshold 1.0).

        Pending jobs are left out on purpose: livekit-agents adds its own reserved slots
        on top of this value (`_get_effective_load`), each estimated at 1/limit because
        num_idle_processes == limit. Counting them here too made a worker with two free
        slots refuse the second of two simultaneous dispatches, and LiveKit then dropped it.
        """
        return 1.0 if self.draining else min(self._running() / self.limit, 1.0)

    async def on_request(self, req: JobRequest) -> None:
        """request_fnc: accept while a slot is free, otherwise let another worker have it."""
        async with self._lock:
            free = not self.draining and self.in_use() < self.limit
            if free:
                self._pending += 1
        if not free:
            self.rejected += 1
            _REJECTED.inc()
            logger.info("job rejected: worker full", extra={"job_id": req.id})
            await req.reject(terminate=False)
            return
        try:
            self.accepted += 1
            _ACCEPTED.inc()
            # returns once the job runs in a process (then active_jobs counts it)
            await req.accept(attributes={"switchboard.slots": str(self.limit)})
        finally:
            async with self._lock:
                self._pending -= 1
