"""The operator's fleet view: reports joined with pods, staleness, starts, ownership."""

from __future__ import annotations

import time

import pytest
from switchboard.scaling import ScalingParams, decide
from switchboard.voiceagent.fleet import (
    DEFAULT_POD_START_S,
    REPORT_TTL_S,
    AgentFleet,
    Fleets,
    PodInfo,
    pod_info,
)
from switchboard.voiceagent.handlers import on_report
from switchboard_contract.report import WorkerReport

from tests.support.memory import peak_in_child

pytestmark = pytest.mark.unit


def report(pod: str, active: int, seq: int, **kw: object) -> WorkerReport:
    return WorkerReport(
        namespace="ns",
        voice_agent="va",
        pod=pod,
        active_calls=active,
        capacity=1,
        seq=seq,
        **kw,  # type: ignore[arg-type]
    )


def test_reports_join_pods_and_track_idle_time() -> None:
    fleet = AgentFleet(("ns", "va"))
    fleet.observe_pod(PodInfo("p1", True, False, None))
    fleet.observe_pod(PodInfo("p2", False, False, None))
    assert fleet.accept(report("p1", 1, 1), now=100.0)
    states = {w.name: w for w in fleet.workers(now=101.0)}
    assert states["p1"].active_calls == 1 and states["p1"].idle_since is None
    assert states["p2"].ready is False and states["p2"].idle_since is None  # starting: not idle
    fleet.accept(report("p1", 0, 2), now=110.0)
    assert {w.name: w for w in fleet.workers(now=111.0)}["p1"].idle_since == 110.0


def test_a_busy_pod_whose_readiness_fails_holds_the_scale_down() -> None:
    """The pod watch says p1 is not ready while its report still counts a call: the join
    keeps both, so the policy sees a busy not-ready worker and scales nothing away (the
    ReplicaSet would remove p1 first). Before the hold: desired 1, p1's call cut."""
    fleet = AgentFleet(("ns", "va"))
    for pod in ("p1", "p2", "p3"):
        fleet.observe_pod(PodInfo(pod, True, False, None))
    fleet.accept(report("p1", 1, 1), now=0.0)
    for pod in ("p2", "p3"):
        fleet.accept(report(pod, 0, 1), now=0.0)
    fleet.observe_pod(PodInfo("p1", False, False, None))  # readiness probe failing
    fleet.accept(report("p1", 1, 2), now=100.0)  # ... while the call goes on
    workers = fleet.workers(now=101.0)
    assert {w.name: (w.ready, w.active_calls) for w in workers}["p1"] == (False, 1)
    decision = decide(workers, 3, ScalingParams(1, 0, 0, 10, 30.0), now=101.0)
    assert decision.desired == 3 and decision.held_by == ("p1",)


def test_reordered_reports_are_dropped() -> None:
    fleet = AgentFleet(("ns", "va"))
    assert fleet.accept(report("p1", 1, 5), now=1.0)
    assert not fleet.accept(report("p1", 0, 4), now=2.0)
    assert fleet.reports["p1"][0].active_calls == 1


def test_call_starts_come_from_report_increments() -> None:
    fleet = AgentFleet(("ns", "va"))
    fleet.accept(report("p1", 2, 1), now=10.0)
    fleet.accept(report("p1", 1, 2), now=11.0)
    fleet.accept(report("p1", 2, 3), now=12.0)
    assert list(fleet.starts) == [10.0, 10.0, 12.0]


def test_local_workers_without_pods_expire() -> None:
    fleet = AgentFleet(("ns", "va"))
    fleet.accept(report("laptop-123", 1, 1, registered=True), now=0.0)
    assert [w.name for w in fleet.workers(now=1.0)] == ["laptop-123"]
    assert fleet.workers(now=REPORT_TTL_S + 1.0) == []


def test_pod_start_estimate_from_the_watch() -> None:
    fleet = AgentFleet(("ns", "va"))
    assert fleet.pod_start_estimate() == DEFAULT_POD_START_S
    body = {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-21T10:00:00Z"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-21T10:00:07Z"}
            ]
        },
    }
    info = pod_info(body)
    assert info.ready and info.start_s == 7.0
    fleet.observe_pod(info)
    fleet.observe_pod(info)  # the same pod again is not a second sample
    assert list(fleet.pod_starts) == [7.0]
    assert fleet.pod_start_estimate() == 7.0


def test_a_new_fleet_settles_before_trusting_silence() -> None:
    fleet = AgentFleet(("ns", "va"), owned_since=100.0)
    assert fleet.settling(100.0) == REPORT_TTL_S
    assert fleet.settling(100.0 + REPORT_TTL_S) is None


async def test_only_an_owned_fleet_takes_reports() -> None:
    """A replica acts only for VoiceAgents whose kopf daemon runs here (not while paused)."""
    fleets = Fleets()

    async def result(va: str) -> str:
        r = WorkerReport(namespace="ns", voice_agent=va, pod="p", active_calls=0, capacity=1, seq=1)
        return await on_report(fleets, r, 0.0)

    assert await result("va") == "standby"  # serving nothing: a paused or fresh replica
    served, other = fleets.get("ns", "va"), fleets.get("ns", "other")
    served.own(100.0)
    assert await result("gone") == "unknown"
    assert await result("other") == "unknown"  # seen, but its daemon does not run here
    served.release()  # kopf paused us
    assert await result("va") == "standby"
    assert not served.reports and not other.reports  # nothing recorded from a stale view


def test_a_restarted_worker_counts_at_once() -> None:
    """A container restart starts seq again at 1 with a new epoch; the report counts now.
    Before: seq 1 < 500 was dropped until seq caught up, so the busy worker looked idle
    (scale-down's first choice): ValidationError, no epoch field, or busy == 0."""
    fleet = AgentFleet(("ns", "va"))
    fleet.observe_pod(PodInfo("p1", True, False, None))
    assert fleet.accept(report("p1", 0, 500, epoch=111), now=1.0)
    assert fleet.accept(report("p1", 1, 1, epoch=222), now=2.0)
    (worker,) = fleet.workers(now=2.5)
    assert worker.active_calls == 1 and worker.idle_since is None
    assert list(fleet.starts) == [2.0]  # the new process's call is a new call
    # Within the new epoch seq orders again: a reordered POST is still dropped.
    assert not fleet.accept(report("p1", 0, 0, epoch=222), now=3.0)
    assert fleet.reports["p1"][0].active_calls == 1


def _accept_huge_counts() -> tuple[int, int | None]:
    """Runs in a fresh interpreter (see tests/support/memory.py): the starts kept, and how
    many at most."""
    fleet = AgentFleet(("ns", "va"))
    fields = {"namespace": "ns", "voice_agent": "va", "capacity": 1, "draining": False}
    for i, count in enumerate((10**7, 10**30)):
        unchecked = WorkerReport.model_construct(
            pod=f"p{i}", active_calls=count, seq=1, epoch=1, registered=True, **fields
        )
        assert fleet.accept(unchecked, now=1.0)
    return len(fleet.starts), fleet.starts.maxlen


def test_accept_allocates_nothing_in_proportion_to_the_count() -> None:
    """Even a report that skipped validation cannot make `accept` allocate per call.
    Before: 10**7 built a 10-million-entry list (~80 MB peak), 10**30 raised OverflowError."""
    (starts, most), peak = peak_in_child(_accept_huge_counts)
    assert peak < 1_000_000, f"peak {peak} bytes"
    assert starts == most


async def test_a_burst_of_triggers_coalesces_into_two_decisions(monkeypatch) -> None:
    """While one decision writes, any number of triggers queue exactly one more, which reads
    the fleet as it is then: a burst of N reports costs two rounds of writes, not N."""
    import asyncio  # noqa: PLC0415

    from switchboard import kube  # noqa: PLC0415
    from switchboard.metrics import DecisionClock  # noqa: PLC0415
    from switchboard.voiceagent import scaler  # noqa: PLC0415
    from switchboard.voiceagent.status import SpecOutcome  # noqa: PLC0415

    scaled: list[int] = []

    async def slow_scale(namespace: str, name: str, replicas: int) -> None:
        # A test double of the API server's write: slow enough for triggers to pile up.
        await asyncio.sleep(0.05)
        scaled.append(replicas)

    async def no_write(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(kube, "scale_deployment", slow_scale)
    for name in ("annotate_pod", "patch_status", "post_event"):
        monkeypatch.setattr(kube, name, no_write)
    params = ScalingParams(
        calls_per_worker=1, warm_workers=1, min_workers=0, max_workers=100, scale_down_delay_s=30
    )
    fleet = AgentFleet(("ns", "va"), owned_since=0.0, spec=SpecOutcome(1, params, "Synced", "ok"))
    fleet.observe_replicas(1)
    clock = DecisionClock()
    decided = []
    for k in range(30):
        fleet.accept(report(f"local-{k}", 1, 1), time.monotonic())
        decided.append(asyncio.ensure_future(scaler.rescale(fleet, clock, since=0.0)))
        await asyncio.sleep(0)
    results = await asyncio.gather(*decided)
    fleet.recheck and fleet.recheck.cancel()
    assert len([r for r in results if r is not None]) == 2
    assert scaled[-1] == 30 + 30 + 1  # the last decision saw all 30 calls, their surge, 1 warm
    assert not fleet.rescale_queued and not fleet.waiting_since
