"""POST /v1/calls: the token check and the per-VoiceAgent rate limit, on a real aiohttp app."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from switchboard.outbound.reports import CALL_BURST, CALL_RATE, add_call_route
from switchboard.voiceagent.reports import RateLimiter, Target, report_token
from switchboard_contract.outbound import CALLS_PATH, CallReport

pytestmark = pytest.mark.unit

KEY, UID = b"k" * 32, "va-uid"


def report(n: int) -> bytes:
    body = {
        "namespace": "tel",
        "voiceAgent": "desk",
        "call": {"namespace": "tel", "name": f"c{n}", "uid": "u"},
        "jobId": "AJ_1",
        "event": "dialing",
        "at": 1.0,
    }
    return json.dumps(body).encode()


async def test_call_reports_are_rate_limited_per_voiceagent() -> None:
    now = [0.0]
    seen: list[CallReport] = []

    async def on_call(r: CallReport) -> tuple[int, str]:  # the Kubernetes side's test double
        seen.append(r)
        return 200, ""

    app = web.Application()
    add_call_route(
        app,
        KEY,
        lambda ns, name: Target(UID, 1) if (ns, name) == ("tel", "desk") else "unknown",
        on_call,
        RateLimiter(clock=lambda: now[0]),
    )
    token = {"Authorization": "Bearer " + report_token(KEY, "tel", "desk", UID)}
    async with TestClient(TestServer(app)) as client:
        bad = {"Authorization": "Bearer x"}
        forged = await client.post(CALLS_PATH, data=report(0), headers=bad)
        assert forged.status == 401  # spends nothing of the VoiceAgent's budget
        codes = [
            (await client.post(CALLS_PATH, data=report(i), headers=token)).status
            for i in range(int(CALL_BURST) + 1)
        ]
        assert codes == [200] * int(CALL_BURST) + [429]
        limited = await client.post(CALLS_PATH, data=report(99), headers=token)
        assert limited.status == 429 and limited.headers["Retry-After"] == "1"
        assert (await limited.json())["error"] == "too many call reports"
        now[0] += 1 / CALL_RATE  # one report's worth of refill
        assert (await client.post(CALLS_PATH, data=report(100), headers=token)).status == 200
    assert len(seen) == int(CALL_BURST) + 1
