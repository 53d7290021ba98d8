"""POST /v1/calls on the worker report endpoint: a job's claim and outcome of an outbound call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from switchboard_contract.outbound import CALLS_PATH, CallReport

from switchboard import kube, reasons
from switchboard.api import API_VERSION
from switchboard.api.outbound import TERMINAL
from switchboard.kube.calls import read_custom, swap_status
from switchboard.outbound.builders import report_status
from switchboard.outbound.caps import Slots
from switchboard.voiceagent.reports import Lookup, RateLimiter, error_response, read_verified

log = logging.getLogger(__name__)
PLURAL = "outboundcalls"
OnCall = Callable[[CallReport], Awaitable[tuple[int, str]]]
# The phase each event follows; a repeat of an accepted event by the same job is a no-op.
_FROM = {"dialing": ("Dialing",), "answered": ("Ringing",), "ended": ("Ringing", "InProgress")}
# Per VoiceAgent: a call makes three reports (dialing, answered, ended) plus retries, and
# the namespace cap (at most 1000 slots) bounds how many calls are in flight. Each admitted
# report costs a GET and a status PATCH, so a job (or a stolen token) must not flood them.
CALL_RATE, CALL_BURST = 20.0, 60.0
_AFTER = {
    "dialing": ("Ringing", "InProgress", *TERMINAL),
    "answered": ("InProgress", *TERMINAL),
    "ended": tuple(TERMINAL),
}


def add_call_route(
    app: web.Application,
    key: bytes,
    lookup: Lookup,
    on_call: OnCall,
    limiter: RateLimiter | None = None,
) -> None:
    """The same checks as worker reports (size, token bound to the VoiceAgent's UID, a rate
    limit per verified VoiceAgent)."""
    limiter = limiter or RateLimiter()

    async def post(request: web.Request) -> web.Response:
        rate = (CALL_RATE, CALL_BURST)
        got = await read_verified(request, CallReport, key, lookup, limiter, rate, "call reports")
        if isinstance(got, web.Response):
            return got
        status, reason = await on_call(got)
        if status != 200:
            return error_response(status, reason)
        return web.json_response({"ok": True})

    app.router.add_post(CALLS_PATH, post)


async def on_call(slots: Slots, report: CallReport) -> tuple[int, str]:
    """Apply one verified report: a compare-and-swap from the phase it follows.

    The token proved which VoiceAgent speaks; it may only touch calls of its own namespace
    that name it. A claim (`dialing`) succeeds once per call: the worker dials only then."""
    if report.call.namespace != report.namespace:
        return 403, "call: not in the VoiceAgent's namespace"
    for _ in range(3):  # a concurrent write moved the phase: decide again from the new one
        obj = await read_custom(PLURAL, report.namespace, report.call.name)
        meta: dict[str, Any] = (obj or {}).get("metadata") or {}
        if obj is None or meta.get("uid") != report.call.uid:
            return 404, "call: not found"
        if (obj.get("spec") or {}).get("voiceAgentRef", {}).get("name") != report.voice_agent:
            return 403, "call: not this VoiceAgent's"
        old = dict(obj.get("status") or {})
        phase, holder = old.get("phase"), old.get("jobID")
        if report.event != "dialing" and holder != report.job_id:
            return 409, "call: claimed by another job"
        if phase in _AFTER[report.event]:
            # already recorded (a retried POST) or ended meanwhile (deleted, lost)
            ok = holder == report.job_id or report.event != "dialing"
            return (200, "") if ok else (409, "call: claimed by another job")
        if phase not in _FROM[report.event]:
            return 409, f"call: {phase or 'new'}, not dialable"
        new = report_status(old, report)
        if await swap_status(PLURAL, report.namespace, report.call.name, meta["uid"], phase, new):
            if new["phase"] in TERMINAL:
                slots.release(report.namespace, meta["uid"])
                await _event(obj, new)
            return 200, ""
    return 409, "call: changing too fast"


async def _event(obj: dict[str, Any], status: dict[str, Any]) -> None:
    ref = {"apiVersion": API_VERSION, "kind": "OutboundCall", "metadata": obj["metadata"]}
    done = status["phase"] == "Completed"
    code = f", SIP {status['sipStatus']}" if status.get("sipStatus") else ""
    message = f"{status.get('toMasked', '')}: {status.get('result')}{code}"
    await kube.post_event(
        ref,
        "Normal" if done else "Warning",
        reasons.CALL_COMPLETED if done else reasons.CALL_FAILED,
        message,
    )
