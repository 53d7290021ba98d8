"""The worker's side of outbound calls: which jobs are outbound, and the retried call reports."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from switchboard_agent.outbound import CallReporter, dial_of
from switchboard_contract import AgentConfig
from switchboard_contract.outbound import CALLS_PATH, CallRef, OutboundDial

from devstack.procs import free_port
from tests.support.agent_configs import offline_config_doc

pytestmark = pytest.mark.unit

DIAL = OutboundDial(
    call=CallRef(namespace="team-a", name="remind", uid="u-1"),
    sip_trunk_id="ST_1",
    to="+15557770123",
    ringing_timeout_s=20,
    max_call_duration_s=60,
)


def test_only_outbound_dispatches_are_dialled() -> None:
    assert dial_of("") is None
    assert dial_of('{"voiceAgent": {"name": "desk"}}') is None  # an inbound rule's job
    assert dial_of("not json") is None
    assert dial_of(json.dumps({"sipTrunkId": "ST_1", "call": {}})) is None  # refused, logged
    assert dial_of(DIAL.model_dump_json()) == DIAL


async def test_reports_retry_until_the_operator_answers() -> None:
    answers = [503, 0, 200]  # a standby replica, then a restart, then the active operator
    seen: list[dict] = []

    async def post(request: web.Request) -> web.Response:
        seen.append(await request.json())
        assert request.headers["Authorization"] == "Bearer tok"
        status = answers.pop(0)
        if status == 0:
            raise ConnectionResetError  # the connection drops: aiohttp answers nothing useful
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post(CALLS_PATH, post)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        config = AgentConfig.model_validate(offline_config_doc())
        env = {
            "SWITCHBOARD_REPORT_URL": f"http://127.0.0.1:{port}/v1/reports",
            "SWITCHBOARD_REPORT_TOKEN": "tok",
        }
        reporter = CallReporter.from_env(config, DIAL, "AJ_1", env)
        assert reporter is not None and reporter.url.endswith(CALLS_PATH)
        assert await reporter.send("dialing", deadline_s=10) == 200
        assert len(seen) == 3 and {s["event"] for s in seen} == {"dialing"}
        assert seen[0]["call"] == {"namespace": "team-a", "name": "remind", "uid": "u-1"}
        assert seen[0]["jobId"] == "AJ_1"
        answers[:] = [409]
        assert await reporter.send("dialing", deadline_s=10) == 409  # not retried: not ours
    finally:
        await runner.cleanup()
