"""The worker reporter against the operator's real report endpoint: both sides of the contract."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from switchboard.voiceagent.reports import ReportResult, Target, make_app, report_token
from switchboard.web import serve
from switchboard_agent.report import Reporter, local_worker_name
from switchboard_contract import AgentConfig
from switchboard_contract.report import REPORT_PATH, WorkerReport

from devstack.procs import free_port

pytestmark = pytest.mark.unit

KEY = b"k" * 32
UID = "6f1c2a4e-0000-4000-8000-000000000001"


def lookup(namespace: str, name: str) -> Target:
    return Target(UID, workers=1)


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
    runner = await serve(make_app(KEY, lookup, on_report), "127.0.0.1", port, "reports")
    active = [0]
    reporter = Reporter(
        f"http://127.0.0.1:{port}{REPORT_PATH}",
        report_token(KEY, "tel", "desk", UID),
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
    runner = await serve(make_app(KEY, lookup, on_report), "127.0.0.1", port, "reports")
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


def test_report_fields_are_bounded() -> None:
    """Before: every one of these was a valid report (activeCalls=3e7 then made the operator
    build a 30-million-entry list, 10**30 an OverflowError and a 500). DID NOT RAISE."""
    valid = {"namespace": "tel", "voiceAgent": "desk", "pod": "p", "activeCalls": 0, "capacity": 1}
    hostile = [
        {"activeCalls": 30_000_000},
        {"activeCalls": 10**30},
        {"activeCalls": 3e7},
        {"activeCalls": "3"},  # strict: a worker sends exact JSON types
        {"activeCalls": True},
        {"draining": "yes"},
        {"activeCalls": -1},
        {"capacity": 0},
        {"capacity": 1001},
        {"seq": 2**63},
        {"seq": -1},
        {"epoch": 2**63},
        {"pod": "Desk_Worker"},
        {"pod": "a" * 254},
        {"pod": "-p"},
        {"pod": "p\u00e9"},
        {"namespace": "a.b"},
        {"namespace": "a" * 64},
        {"voiceAgent": "a/b"},
        {"voiceAgent": ""},
    ]
    for change in hostile:
        with pytest.raises(ValidationError):
            WorkerReport.model_validate({**valid, **change})
    edge = {"activeCalls": 1000, "capacity": 1000, "seq": 2**63 - 1, "pod": "a." + "b" * 251}
    assert WorkerReport.model_validate({**valid, **edge}).active_calls == 1000


def test_each_reporter_process_has_its_own_epoch() -> None:
    """A restarted container's seq starts again at 1; its epoch says it is a new process.
    Before: AttributeError, no epoch (and the operator dropped seq 1 as older than seq 500)."""
    first = Reporter("http://op/v1/reports", "t", CONFIG, "p", lambda: 0, lambda: False)
    again = Reporter("http://op/v1/reports", "t", CONFIG, "p", lambda: 0, lambda: False)
    reports = [first.report(), first.report()]
    assert [r.seq for r in reports] == [1, 2]
    assert reports[0].epoch == reports[1].epoch == first.epoch != 0
    assert again.report().epoch != first.epoch


def test_a_worker_outside_a_pod_names_itself_validly() -> None:
    """The fallback name (host name + pid) must pass the contract's DNS-1123 bound."""
    name = local_worker_name("Dev_Laptop.LOCAL", 4242)
    assert name == "dev-laptop.local-4242"
    WorkerReport(namespace="tel", voice_agent="desk", pod=name, active_calls=0, capacity=1)
    assert local_worker_name("x" * 300, 7).endswith("-7")
    assert len(local_worker_name("x" * 300, 7)) <= 253
