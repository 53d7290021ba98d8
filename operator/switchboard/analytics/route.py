"""POST /v1/summaries on the worker report endpoint: a call's summary, as its worker saw it end.

Authenticated as load reports are (a token bound to the VoiceAgent's UID): a worker can only
add calls to its own VoiceAgent's figures. One summary feeds the status window, the metrics
and the call log; a repeated one (same job) is accepted and counted once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from switchboard_contract.analytics import SUMMARY_PATH, CallSummary

from switchboard import kube
from switchboard.analytics.metrics import CallMetrics
from switchboard.analytics.window import point_of
from switchboard.voiceagent.fleet import Fleets
from switchboard.voiceagent.reports import Lookup, RateLimiter, error_response, read_verified
from switchboard.voiceagent.scaler import rescale

OnSummary = Callable[[CallSummary], Awaitable[tuple[int, str]]]
# Per VoiceAgent: one summary per call end. Calls end at most as fast as they started, which
# the fleet's size bounds; the burst covers a fleet of short calls ending together.
SUMMARY_RATE, SUMMARY_BURST = 20.0, 200.0


def add_summary_route(
    app: web.Application,
    key: bytes,
    lookup: Lookup,
    on_summary: OnSummary,
    limiter: RateLimiter | None = None,
) -> None:
    limiter = limiter or RateLimiter()
    rate = (SUMMARY_RATE, SUMMARY_BURST)

    async def post(request: web.Request) -> web.Response:
        got = await read_verified(request, CallSummary, key, lookup, limiter, rate, "summaries")
        if isinstance(got, web.Response):
            return got
        status, reason = await on_summary(got)
        if status == 503:
            return error_response(status, reason, **{hdrs.RETRY_AFTER: "1"})
        if status != 200:
            return error_response(status, reason)
        return web.json_response({"ok": True})

    app.router.add_post(SUMMARY_PATH, post)


async def on_summary(
    fleets: Fleets, metrics: CallMetrics, log_size: int, summary: CallSummary
) -> tuple[int, str]:
    """Record one verified summary: the window (then the status), metrics, the call log."""
    fleet = fleets.by_key.get((summary.namespace, summary.voice_agent))
    if fleet is None or not fleet.owned:
        return (404, "unknown VoiceAgent") if fleets.serving() else (503, "standby replica")
    if not fleet.calls.add(point_of(summary, time.monotonic()), summary.job_id):
        return 200, ""  # this job's summary is in already (a retried POST)
    metrics.observe(summary)
    if log_size > 0:
        fleet.call_log.add(summary, log_size)
        if (task := fleet.call_log.schedule(fleet.ref, kube.apply_owned)) is not None:
            fleet.track(task)
    await rescale(fleet)  # status.calls follows at once (coalesced with any other trigger)
    return 200, ""
