"""The operator's worker-report endpoint: POST /v1/reports, authenticated per VoiceAgent."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from pydantic import ValidationError
from switchboard_contract.report import REPORT_PATH, WorkerReport

# What became of a well-formed, authenticated report.
ReportResult = Literal["accepted", "unknown", "standby"]
OnReport = Callable[[WorkerReport, float], Awaitable[ReportResult]]
OnResult = Callable[[str], None]  # a ReportResult, or invalid | unauthorized


def _ignore(_: str) -> None:
    pass


def report_token(key: bytes, namespace: str, voiceagent: str) -> str:
    """The bearer token of a VoiceAgent's workers: an HMAC, so no agent can pose as another."""
    return hmac.new(key, f"{namespace}/{voiceagent}".encode(), hashlib.sha256).hexdigest()


def make_app(key: bytes, on_report: OnReport, on_result: OnResult = _ignore) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        received = time.monotonic()
        try:
            report = WorkerReport.model_validate_json(await request.read())
        except ValidationError as err:
            on_result("invalid")
            return web.json_response({"error": err.errors(include_url=False)}, status=400)
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
        expected = report_token(key, report.namespace, report.voice_agent)
        if not hmac.compare_digest(presented, expected):
            on_result("unauthorized")
            return web.json_response({"error": "bad token"}, status=401)
        result = await on_report(report, received)
        on_result(result)
        if result == "unknown":
            return web.json_response({"error": "unknown VoiceAgent"}, status=404)
        if result == "standby":
            # Not serving this VoiceAgent now (a paused peering replica): retry elsewhere.
            return web.json_response(
                {"error": "standby replica"}, status=503, headers={"Retry-After": "1"}
            )
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post(REPORT_PATH, post)
    return app
