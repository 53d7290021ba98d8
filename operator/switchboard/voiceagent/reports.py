"""The operator's worker-report endpoint: POST /v1/reports, authenticated per VoiceAgent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar, cast

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError
from switchboard_contract.report import REPORT_PATH, WorkerReport

# What became of a well-formed, authenticated report.
ReportResult = Literal["accepted", "stale", "unknown", "standby"]
# Every result the endpoint counts (switchboard.metrics.REPORT_RESULTS lists the same).
Outcome = Literal[ReportResult, "invalid", "unauthorized", "limited"]
Unserved = Literal["unknown", "standby"]
OnReport = Callable[[WorkerReport, float], Awaitable[ReportResult]]
OnResult = Callable[[Outcome], None]

# A report is ~300 bytes even with 253-char names; anything near this is not a worker's.
MAX_BODY = 4096
# A worker sends its body with its headers (its own timeout is 2 s): a body still not
# complete after this is a stalled or hostile client holding a connection open.
BODY_TIMEOUT_S = 5.0
# After an early answer, read what a worker could still be sending, not 10 s of a stalled
# or hostile client's body (see switchboard.web.serve).
LINGER_S = 1.0
# RFC 6750 b64token, at most a few times the 64 hex chars of a real token.
_BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]{1,256}=*)", re.IGNORECASE)
_KNOWN_FIELDS = frozenset(f.alias or n for n, f in WorkerReport.model_fields.items())

# Per VoiceAgent rate limit. A worker POSTs at most once per poll (agent POLL_S = 0.1 s, on
# a change or a retry) and otherwise once per REPORT_HEARTBEAT_S (5 s). The base admits five
# workers changing on every poll, or 250 heartbeating; each worker pod the watch sees adds
# 5x its heartbeat rate, so a 1000-pod fleet (maxWorkers' limit, 200 heartbeats/s) fits too.
# The burst absorbs every worker reporting at once after an operator restart or a rollout.
BASE_RATE, BASE_BURST = 50.0, 100.0
PER_WORKER_RATE, PER_WORKER_BURST = 1.0, 2.0


@dataclass(frozen=True)
class Target:
    """The VoiceAgent a report names, as this replica knows it."""

    uid: str  # tokens are bound to it: a re-created VoiceAgent refuses the old one's
    workers: int  # worker pods seen, to size its rate limit


Lookup = Callable[[str, str], Target | Unserved]


def _ignore(_: Outcome) -> None:
    pass


def report_token(key: bytes, namespace: str, voiceagent: str, uid: str) -> str:
    """The bearer token of a VoiceAgent's workers: an HMAC, so no agent can pose as another.

    '/' cannot occur in a namespace, a name or a UID, so the message is unambiguous."""
    message = f"{namespace}/{voiceagent}/{uid}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class RateLimiter:
    """A token bucket per key (a verified VoiceAgent, so no stranger can spend its budget)."""

    clock: Callable[[], float] = time.monotonic
    buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def admit(self, key: tuple[str, str], rate: float, burst: float) -> float:
        """0 when admitted, else the seconds until the next report would be."""
        now = self.clock()
        tokens, at = self.buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


def validation_reason(err: ValidationError) -> str:
    """The first problem as `field: message`, naming no input value and no unknown key."""
    first = err.errors(include_url=False, include_context=False, include_input=False)[0]
    more = err.error_count() - 1
    if first["type"] == "json_invalid":
        return "body: not valid JSON"
    if first["type"] == "extra_forbidden":
        return "body: unknown field" + (f" (+{more} more)" if more else "")
    loc = [str(p) if p in _KNOWN_FIELDS else "?" for p in first["loc"]]
    if first["type"] == "string_pattern_mismatch":
        message = "must be a lowercase DNS-1123 name"  # not pydantic's long regex
    else:
        message = first["msg"].replace("Input should", "must").replace("String should", "must")
    return f"{'.'.join(loc) or 'body'}: {message}" + (f" (+{more} more)" if more else "")


def bearer(request: web.Request) -> bytes | Literal[False] | None:
    """The presented token's bytes; None: no header; False: a malformed one."""
    values = request.headers.getall(hdrs.AUTHORIZATION, [])
    if not values:
        return None
    if len(values) > 1:
        return False
    value = values[0]
    if not value.isascii():
        # aiohttp decodes header bytes as UTF-8 with surrogate escapes: only ASCII is a token.
        return False
    match = _BEARER.fullmatch(value)
    return match.group(1).encode("ascii") if match else False


def error_response(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers or None)


class _Addressed(Protocol):
    namespace: str
    voice_agent: str


Body = TypeVar("Body", bound=BaseModel)


def first_problem(err: ValidationError) -> str:
    """`field: error type` of a body's first problem (no input value in it)."""
    first = err.errors(include_url=False, include_context=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first["loc"] if isinstance(p, str | int)) or "body"
    return f"{loc}: {first['type']}"


async def read_verified(
    request: web.Request,
    model: type[Body],
    key: bytes,
    lookup: Lookup,
    limiter: RateLimiter,
    rate: tuple[float, float],
    noun: str,
) -> Body | web.Response:
    """A worker's POST of a `model` that names its VoiceAgent (call reports, summaries): the
    same checks as load reports (size, a token bound to the VoiceAgent's UID, a rate limit per
    verified VoiceAgent, `rate` = (per second, burst)); a Response when refused."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error_response(413, "body: too large")
    presented = bearer(request)
    if not presented:
        return error_response(401, "Authorization: missing or malformed")
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            body = await request.read()
        doc = model.model_validate_json(body)
    except TimeoutError:
        return error_response(408, "body: incomplete")
    except ValidationError as err:
        return error_response(400, first_problem(err))
    named = cast(_Addressed, doc)
    target = lookup(named.namespace, named.voice_agent)
    if target == "standby":
        return error_response(503, "standby replica", **{hdrs.RETRY_AFTER: "1"})
    if target == "unknown":
        return error_response(401, "bad token")
    expected = report_token(key, named.namespace, named.voice_agent, target.uid)
    if not hmac.compare_digest(presented, expected.encode("ascii")):
        return error_response(401, "bad token")
    wait = limiter.admit((named.namespace, named.voice_agent), *rate)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        return error_response(429, f"too many {noun}", **{hdrs.RETRY_AFTER: retry})
    return doc


def make_app(
    key: bytes,
    lookup: Lookup,
    on_report: OnReport,
    on_result: OnResult = _ignore,
    limiter: RateLimiter | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> web.Application:
    """The endpoint. Every refusal is a 4xx/503 with a short reason (never the input).

    Order: cheap syntax checks, the bounded parse (the token names the VoiceAgent, so the
    body must be read), the token, the rate limit; only then the report costs anything."""
    limiter = limiter or RateLimiter()

    async def post(request: web.Request) -> web.Response:
        received = time.monotonic()
        if request.content_length is not None and request.content_length > MAX_BODY:
            on_result("invalid")
            return error_response(413, "body: too large")
        if request.headers.get(hdrs.CONTENT_ENCODING, "identity").lower() != "identity":
            on_result("invalid")  # a worker never compresses; nor will we inflate a bomb
            return error_response(400, "Content-Encoding: not accepted")
        presented = bearer(request)
        if presented is None:
            on_result("unauthorized")
            return error_response(
                401, "Authorization: missing", **{hdrs.WWW_AUTHENTICATE: "Bearer"}
            )
        if presented is False:
            on_result("invalid")
            return error_response(400, "Authorization: malformed")
        try:
            async with asyncio.timeout(body_timeout_s):
                body = await request.read()
        except TimeoutError:
            on_result(
                "invalid"
            )  # also a chunk aiohttp found broken mid-body: it only says so later
            return error_response(408, "body: incomplete")
        except web.HTTPRequestEntityTooLarge:
            on_result("invalid")
            return error_response(413, "body: too large")
        except (HttpProcessingError, RequestPayloadError):
            on_result("invalid")  # e.g. chunked encoding broken after the headers
            return error_response(400, "body: malformed")
        try:
            report = WorkerReport.model_validate_json(body)
        except ValidationError as err:
            on_result("invalid")
            return error_response(400, validation_reason(err))
        target = lookup(report.namespace, report.voice_agent)
        if target == "standby":
            # Serving nothing now (a paused peering replica): retry elsewhere.
            on_result("standby")
            return error_response(503, "standby replica", **{hdrs.RETRY_AFTER: "1"})
        if target == "unknown":
            # No UID to check the token against; the same answer as a bad token, so a
            # stranger cannot tell which VoiceAgents exist.
            on_result("unknown")
            return error_response(401, "bad token", **{hdrs.WWW_AUTHENTICATE: "Bearer"})
        expected = report_token(key, report.namespace, report.voice_agent, target.uid)
        if not hmac.compare_digest(presented, expected.encode("ascii")):
            on_result("unauthorized")
            return error_response(401, "bad token", **{hdrs.WWW_AUTHENTICATE: "Bearer"})
        wait = limiter.admit(
            (report.namespace, report.voice_agent),
            BASE_RATE + PER_WORKER_RATE * target.workers,
            BASE_BURST + PER_WORKER_BURST * target.workers,
        )
        if wait > 0:
            on_result("limited")
            retry = str(max(1, math.ceil(wait)))
            return error_response(429, "too many reports", **{hdrs.RETRY_AFTER: retry})
        result = await on_report(report, received)
        on_result(result)
        if result == "unknown":
            return error_response(404, "unknown VoiceAgent")
        if result == "standby":
            return error_response(503, "standby replica", **{hdrs.RETRY_AFTER: "1"})
        if result == "stale":
            # Older than this pod's last report in the same epoch: the worker's next one wins.
            return error_response(409, "stale report")
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(REPORT_PATH, post)
    return app
