"""The worker reporter against the operator's real report endpoint: both sides of the contract."""

from __future__ import annotations

import asyncio

import pytest
from switchboard.voiceagent.reports import ReportResult, make_app, report_token
from switchboard.web import serve
from switchboard_agent.report import Reporter
from switchboard_contract import AgentConfig
from switchboard_contract.report import REPORT_PATH, WorkerReport

from devstack.procs import free_port

pytestmark = pytest.mark.unit

KEY = b"k" * 32
CONFIG = AgentConfig.model_validate(
    {
        "agentName": "tel-desk",
        "voiceAgent": {"namespace": "tel", "name": "desk"},
        "instructions": "x",
        "realtime": {"provider": "openai"},
    }
)


async def until(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_reporter_posts_every_change_with_its_token() -> None:
    got: list[WorkerReport] = []

    async def on_report(report: WorkerReport, received: float) -> ReportResult:
        got.append(report)
        return "accepted"

    port = free_port()
    runner = await serve(make_app(KEY, on_report), "127.0.0.1", port, "reports")
    active = [0]
    reporter = Reporter(
        f"http://127.0.0.1:{port}{REPORT_PATH}",
        report_token(KEY, "tel", "desk"),
        CONFIG,
        "pod-1",
        lambda: active[0],
        lambda: False,
    )
    reporter.start()
    try:
        await until(lambda: len(got) >= 1)
        active[0] = 1
        await until(lambda: got[-1].active_calls == 1)
        active[0] = 0
        await until(lambda: got[-1].active_calls == 0)
    finally:
        reporter.stop()
        await runner.cleanup()
    assert [r.active_calls for r in got[:3]] == [0, 1, 0]
    assert all(r.pod == "pod-1" and r.voice_agent == "desk" for r in got)
    assert [r.seq for r in got] == sorted(r.seq for r in got)


async def test_wrong_token_is_refused() -> None:
    async def on_report(report: WorkerReport, received: float) -> ReportResult:
        raise AssertionError("must not be called")

    port = free_port()
    runner = await serve(make_app(KEY, on_report), "127.0.0.1", port, "reports")
    reporter = Reporter(
        f"http://127.0.0.1:{port}{REPORT_PATH}", "forged", CONFIG, "p", lambda: 0, lambda: False
    )
    try:
        assert await asyncio.to_thread(reporter.send, reporter.report()) is False
    finally:
        await runner.cleanup()


def test_from_env_needs_a_url() -> None:
    assert Reporter.from_env(CONFIG, lambda: 0, lambda: False, env={}) is None
    r = Reporter.from_env(
        CONFIG,
        lambda: 0,
        lambda: False,
        env={
            "SWITCHBOARD_REPORT_URL": "http://op/v1/reports",
            "SWITCHBOARD_POD_NAME": "desk-worker-abc",
        },
    )
    assert r is not None and r.pod == "desk-worker-abc"
