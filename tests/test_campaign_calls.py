"""CallCampaign end to end: caps measured at the callee UA, windows, bad rows, SIGKILL restarts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from switchboard.livekit.client import LiveKitEndpoint

from devstack.sip import SipBridge
from devstack.sipua.ua import SipUA
from tests.support.kube import Kube
from tests.support.outbound import (
    RING_BUSY,
    Callee,
    campaign,
    outbound_agent,
    outbound_trunk,
)
from tests.support.sip_stack import SipStack
from tests.support.voiceagent_stack import Factory, Stack

pytestmark = [pytest.mark.sip, pytest.mark.k8s, pytest.mark.timeout(420)]


def numbers(first: int, n: int) -> list[str]:
    return [f"+1555888{first + i:04d}" for i in range(n)]


@pytest.fixture
def capped_stack(
    operator_factory: Factory,
    livekit_endpoint: LiveKitEndpoint,
    kube: Kube,
    livekit_sip: SipBridge,
    tmp_path: Path,
    kube_crds: list[str],
) -> Iterator[SipStack]:
    """The sip stack with this namespace's outbound cap at 3 (the default stays 10)."""
    env = {"SWITCHBOARD_OUTBOUND_NAMESPACE_MAX_CALLS": f"{kube.namespace}=3"}
    stack = SipStack(Stack(operator_factory, livekit_endpoint, kube, **env), livekit_sip, tmp_path)
    yield stack
    stack.stop()


async def _status(stack: SipStack, name: str) -> dict[str, Any]:
    stack.ops.op.check_alive()
    obj = await asyncio.to_thread(stack.kube.get, "CallCampaign", name)
    return dict(obj.get("status") or {})


async def wait_done(stack: SipStack, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await _status(stack, name)
        done = [c for c in status.get("conditions", []) if c["type"] == "Completed"]
        if done and done[0]["status"] == "True":
            return status
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{name} not done: {status}", pytrace=False)
        await asyncio.sleep(0.5)


async def _serving(port: int, timeout: float = 60) -> None:
    """Until the operator's report endpoint accepts connections again (it is up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail("the operator did not come back", pytrace=False)
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return


async def _ringing_callee(stack: SipStack, calls_per_worker: int = 5) -> Callee:
    callee = Callee(await SipUA(user="callee").start(), lambda _: RING_BUSY).start()
    stack.apply(outbound_trunk(callee.ua.port), outbound_agent(calls_per_worker))
    stack.start_worker()
    return callee


async def test_twenty_targets_never_exceed_five_at_the_callee(sip_stack: SipStack) -> None:
    callee = await _ringing_callee(sip_stack)
    try:
        targets = numbers(0, 20)
        sip_stack.kube.create(campaign("c20", targets, maxConcurrentCalls=5, callsPerSecond=5))
        status = await wait_done(sip_stack, "c20")
        assert status["counts"]["busy"] == 20 and status["remaining"] == 0
        assert callee.max_concurrent <= 5, callee.max_concurrent
        assert callee.max_concurrent >= 3  # the cap was used, not just respected
        assert dict(callee.invites) == {n.lstrip("+"): 1 for n in targets}
    finally:
        await callee.close()


async def test_two_campaigns_share_the_namespace_cap(capped_stack: SipStack) -> None:
    callee = await _ringing_callee(capped_stack)
    try:
        a, b = numbers(100, 5), numbers(200, 5)
        capped_stack.kube.create(campaign("a", a, maxConcurrentCalls=5, callsPerSecond=10))
        capped_stack.kube.create(campaign("b", b, maxConcurrentCalls=5, callsPerSecond=10))
        for name in ("a", "b"):
            assert (await wait_done(capped_stack, name))["counts"]["busy"] == 5
        assert callee.max_concurrent <= 3, callee.max_concurrent
        assert dict(callee.invites) == {n.lstrip("+"): 1 for n in a + b}
    finally:
        await callee.close()


async def test_closed_window_then_bad_rows_reported_and_the_rest_called(
    sip_stack: SipStack,
) -> None:
    """A window opening in a few seconds: nothing before it; bad rows named, others called."""
    callee = await _ringing_callee(sip_stack, calls_per_worker=2)
    try:
        start = datetime.now(UTC) + timedelta(minutes=1)
        start = start.replace(second=0, microsecond=0)
        end = start + timedelta(minutes=10)
        window = {
            "days": [start.strftime("%a")],
            "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M") if end.day == start.day else "23:59",
        }
        good = numbers(300, 3)
        targets = [good[0], "0800-not-e164", good[1]]
        csv = f"number,name\n{good[2]},Ann\n+15558880399,Bob,extra\n"
        sip_stack.kube.core.create_namespaced_config_map(
            sip_stack.kube.namespace,
            {"metadata": {"name": "list"}, "data": {"targets.csv": csv}},
        )
        source = {"configMapRef": {"name": "list"}}
        sip_stack.kube.create(
            campaign("w", targets, callingWindows=[window], timeZone="UTC", targetsFrom=source)
        )
        status: dict[str, Any] = {}
        while datetime.now(UTC) < start - timedelta(seconds=2):
            status = await _status(sip_stack, "w")
            assert sum(callee.invites.values()) == 0
            await asyncio.sleep(1)
        assert status.get("nextWindow") == start.strftime("%Y-%m-%dT%H:%M:%SZ"), status
        done = await wait_done(sip_stack, "w")
        assert done["counts"]["busy"] == 3 and done["counts"]["invalid"] == 2
        assert dict(callee.invites) == {n.lstrip("+"): 1 for n in good}
        events = sip_stack.kube.core.list_namespaced_event(sip_stack.kube.namespace).items
        rows = sorted(e.message for e in events if e.reason == "InvalidTarget")
        assert rows == [
            "row 1: spec.targets[1]: the number is not E.164 (+ and 2-15 digits)",
            "row 4: CSV line 3: 3 columns, the header has 2",
        ]
        assert "0800" not in str([e.message for e in events])
    finally:
        await callee.close()


async def test_sigkill_the_operator_ten_times_each_target_dialled_once(
    sip_stack: SipStack,
) -> None:
    callee = await _ringing_callee(sip_stack)
    callee.ring_s = 2.0
    rng = random.Random(15)
    try:
        targets = numbers(400, 30)
        sip_stack.kube.create(campaign("k", targets, maxConcurrentCalls=5, callsPerSecond=5))
        op = sip_stack.ops.op
        kills = 0
        while kills < 10:
            # a random point of its work: once it serves again, 0.2-3 s into it
            await _serving(sip_stack.ops.port)
            await asyncio.sleep(rng.uniform(0.2, 3.0))
            op.kill()  # SIGKILL: no cleanup, mid-tick, mid-report, mid-dispatch
            kills += 1
            op.start()
        status = await wait_done(sip_stack, "k", timeout=300)
        assert kills >= 10
        assert status["counts"]["busy"] == 30, status
        assert dict(callee.invites) == {n.lstrip("+"): 1 for n in targets}
        assert callee.max_concurrent <= 5
    finally:
        await callee.close()


async def test_busy_targets_are_retried_by_the_policy(sip_stack: SipStack) -> None:
    """busy x2 after 2 s: each busy target is dialled three times, then counted busy once."""
    callee = await _ringing_callee(sip_stack, calls_per_worker=2)
    callee.ring_s = 0.5
    try:
        targets = numbers(500, 2)
        retries = [{"result": "busy", "attempts": 2, "after": "2s"}]
        sip_stack.kube.create(campaign("r", targets, retries=retries, callsPerSecond=5))
        status = await wait_done(sip_stack, "r")
        assert status["counts"]["busy"] == 2 and status["remaining"] == 0
        assert dict(callee.invites) == {n.lstrip("+"): 3 for n in targets}
        calls = sip_stack.kube.custom.list_namespaced_custom_object(
            "switchboard.dev", "v1alpha1", sip_stack.kube.namespace, "outboundcalls"
        )["items"]
        names = sorted(c["metadata"]["name"] for c in calls)
        assert names == ["r-0", "r-0-r2", "r-0-r3", "r-1", "r-1-r2", "r-1-r3"]
        gaps = []
        for row in ("r-0", "r-1"):
            ends = {c["metadata"]["name"]: c["status"] for c in calls}
            first_end, retry_start = ends[row]["endTime"], ends[f"{row}-r2"]["startTime"]
            gaps.append((first_end, retry_start))
        assert all(start > end for end, start in gaps)  # the retry waited for its delay
    finally:
        await callee.close()
