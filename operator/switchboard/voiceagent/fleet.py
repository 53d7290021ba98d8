"""In-memory view of each VoiceAgent's workers: pods (from the watch) joined with their reports.

Reports are the event-driven call signal: each one may change the desired worker count.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard_contract.report import REPORT_HEARTBEAT_S, WorkerReport

from switchboard.analytics.calllog import CallLog
from switchboard.analytics.window import CallWindow
from switchboard.locks import LockRegistry
from switchboard.metrics import DecisionClock
from switchboard.names import POD_DELETION_COST
from switchboard.scaling import WorkerState
from switchboard.scaling.rate import EventRate
from switchboard.voiceagent.status import SpecOutcome

# A worker that has not reported for this long (3 missed heartbeats) is not trusted.
REPORT_TTL_S = 3 * REPORT_HEARTBEAT_S
# Call starts older than this never matter to the surge term (pods start far quicker).
STARTS_WINDOW_S = 300.0
# Until a pod start has been measured, assume this (a warm image on a warm node).
DEFAULT_POD_START_S = 10.0

FleetKey = tuple[str, str]  # (namespace, VoiceAgent name)


@dataclass(frozen=True)
class PodInfo:
    """A worker pod as the watch sees it."""

    name: str
    ready: bool
    deleting: bool
    deletion_cost: str | None
    start_s: float | None = None  # creation -> Ready, once ready (1 s resolution)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def pod_info(body: Mapping[str, Any]) -> PodInfo:
    meta, status = body.get("metadata", {}), body.get("status", {})
    conds = status.get("conditions") or []
    ready_cond = next((c for c in conds if c.get("type") == "Ready"), None)
    ready = ready_cond is not None and ready_cond.get("status") == "True"
    cost = (meta.get("annotations") or {}).get(POD_DELETION_COST)
    start_s = None
    created = _parse_time(meta.get("creationTimestamp"))
    became_ready = (
        _parse_time(ready_cond.get("lastTransitionTime")) if ready and ready_cond else None
    )
    if created is not None and became_ready is not None:
        start_s = max(0.0, (became_ready - created).total_seconds())
    return PodInfo(meta["name"], ready, bool(meta.get("deletionTimestamp")), cost, start_s)


@dataclass
class AgentFleet:
    """Everything the scaler knows about one VoiceAgent; guarded by `lock`."""

    key: FleetKey
    # apiVersion/kind/metadata of the VoiceAgent, enough to post events about it.
    ref: dict[str, Any] = field(default_factory=dict)
    # What the last spec pass established (None until it ran): status and scaling need it.
    spec: SpecOutcome | None = None
    pods: dict[str, PodInfo] = field(default_factory=dict)  # from the pod watch
    replicas: int | None = None  # the Deployment's spec.replicas: see observe_replicas
    reports: dict[str, tuple[WorkerReport, float]] = field(default_factory=dict)
    # When calls started (from report increments): the scaler's arrival-surge signal.
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=1024))
    # The same call starts, and the call ends, as rates on several time scales: the predictive
    # warm pool's signal. Observed from when this fleet was created (start-up bias correction).
    arrivals: EventRate = field(default_factory=lambda: EventRate(origin=time.monotonic()))
    ends: EventRate = field(default_factory=lambda: EventRate(origin=time.monotonic()))
    pod_starts: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    idle_since: dict[str, float] = field(default_factory=dict)
    last_status: dict[str, Any] | None = None  # as stored: what the next status is diffed to
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    recheck: asyncio.TimerHandle | None = None
    # Set while a rescale waits for `lock`: later triggers coalesce into it (scaler.rescale),
    # and `waiting_since` keeps their arrival times for the decision latency metric.
    rescale_queued: bool = False
    waiting_since: list[tuple[DecisionClock, float]] = field(default_factory=list)
    # Since when this replica serves the VoiceAgent (None: it does not, e.g. a paused peering
    # standby, whose view goes stale). Until every live worker has had time to report
    # (REPORT_TTL_S) after that, a silent pod may be busy, so nothing is scaled down.
    owned_since: float | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Set while the fleet has no free slot, cleared when a sweep starts. Starts False on
    # purpose: a sweep lists every room, and one per VoiceAgent at start-up would be a storm.
    may_have_dropped: bool = False
    repairing: bool = False
    # Calls that ended (their summaries), for status.calls; and the latest for the call log.
    calls: CallWindow = field(default_factory=CallWindow)
    call_log: CallLog = field(default_factory=CallLog)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a reference to a fire-and-forget task until it finishes (asyncio docs)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def accept(self, report: WorkerReport, now: float) -> bool:
        """Record a report; False when it is older than what we have (reordered POSTs).

        seq orders reports within one epoch (one reporting process) only: a restarted
        container starts a new epoch at seq 1, and its report is the news, not a relic."""
        previous = self.reports.get(report.pod)
        same_process = previous is not None and previous[0].epoch == report.epoch
        if previous is not None and same_process and report.seq < previous[0].seq:
            return False
        # A new process's calls are all new: the old process's ended with it.
        before = previous[0].active_calls if previous is not None and same_process else 0
        # At most a deque's worth, whatever the count says: memory never follows the input.
        started = min(max(0, report.active_calls - before), self.starts.maxlen or 0)
        self.starts.extend(itertools.repeat(now, started))
        if started:
            self.arrivals.observe(now, started)
        elif same_process and report.active_calls < before:
            self.ends.observe(now, before - report.active_calls)
        while self.starts and self.starts[0] < now - STARTS_WINDOW_S:
            self.starts.popleft()
        self.reports[report.pod] = (report, now)
        if report.active_calls == 0:
            self.idle_since.setdefault(report.pod, now)
        else:
            self.idle_since.pop(report.pod, None)
        return True

    def workers(self, now: float) -> list[WorkerState]:
        """Pods joined with fresh reports; reporting non-pod workers (local processes) count too."""
        out: list[WorkerState] = []
        seen = set()
        for pod in self.pods.values():
            seen.add(pod.name)
            out.append(self._state(pod.name, pod.ready, pod.deleting, now))
        for name, (report, at) in list(self.reports.items()):
            if name in seen:
                continue
            if now - at > REPORT_TTL_S:
                # Gone without a pod to show for it (a stopped local worker): forget it.
                self.reports.pop(name, None)
                self.idle_since.pop(name, None)
                continue
            out.append(self._state(name, report.registered, False, now))
        return out

    def _state(self, name: str, pod_ready: bool, deleting: bool, now: float) -> WorkerState:
        entry = self.reports.get(name)
        fresh = entry is not None and now - entry[1] <= REPORT_TTL_S
        report = entry[0] if entry is not None and fresh else None
        active = report.active_calls if report else 0
        if active == 0 and pod_ready:
            # Idle from when it became ready (a starting pod is not idle yet).
            self.idle_since.setdefault(name, now)
        elif not pod_ready:
            self.idle_since.pop(name, None)
        return WorkerState(
            name=name,
            ready=pod_ready and (report.registered if report else True),
            active_calls=active,
            idle_since=self.idle_since.get(name) if active == 0 else None,
            terminating=deleting or bool(report and report.draining),
        )

    def observe_replicas(self, replicas: int | None) -> None:
        """The Deployment's spec.replicas as last seen (None: no Deployment). Fed by its watch
        and by the operator's own writes, so a report arriving before the watch catches up
        decides from the count just written, not a stale one."""
        self.replicas = replicas

    def observe_pod(self, info: PodInfo) -> None:
        previous = self.pods.get(info.name)
        if info.start_s is not None and (previous is None or previous.start_s is None):
            self.pod_starts.append(info.start_s)
        self.pods[info.name] = info

    def pod_start_estimate(self) -> float:
        """p90 of recent creation->Ready times; the surge term covers one such start."""
        if not self.pod_starts:
            return DEFAULT_POD_START_S
        ordered = sorted(self.pod_starts)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]

    @property
    def owned(self) -> bool:
        return self.owned_since is not None

    def own(self, now: float) -> None:
        self.owned_since = now

    def release(self) -> None:
        self.owned_since = None

    def settling(self, now: float) -> float | None:
        """Seconds left before reports can be trusted to cover every worker, else None."""
        since = now if self.owned_since is None else self.owned_since
        left = since + REPORT_TTL_S - now
        return left if left > 0 else None

    def forget(self, pod: str) -> None:
        self.pods.pop(pod, None)
        self.reports.pop(pod, None)
        self.idle_since.pop(pod, None)


@dataclass
class Fleets:
    """Every VoiceAgent's fleet in this operator process (kept in kopf's memo)."""

    by_key: dict[FleetKey, AgentFleet] = field(default_factory=dict)
    locks: LockRegistry = field(default_factory=LockRegistry)
    decisions: DecisionClock = field(default_factory=DecisionClock)

    def get(self, namespace: str, name: str) -> AgentFleet:
        key = (namespace, name)
        if key not in self.by_key:
            self.by_key[key] = AgentFleet(key, lock=self.locks[("fleet", *key)])
        return self.by_key[key]

    def drop(self, namespace: str, name: str) -> None:
        fleet = self.by_key.pop((namespace, name), None)
        self.locks.forget(("fleet", namespace, name))
        if fleet is not None and fleet.recheck is not None:
            fleet.recheck.cancel()

    def uid(self, namespace: str, name: str) -> str | None:
        """The UID of the VoiceAgent as last seen here; None before its handler ran."""
        fleet = self.by_key.get((namespace, name))
        uid = (fleet.ref.get("metadata") or {}).get("uid") if fleet is not None else None
        return uid if isinstance(uid, str) and uid else None

    def serving(self) -> bool:
        """Whether this replica serves any VoiceAgent (False: a paused or fresh replica)."""
        return any(f.owned for f in self.by_key.values())

    def statuses(self) -> list[tuple[FleetKey, dict[str, Any] | None]]:
        """Each VoiceAgent's last written status, for the metrics collector."""
        return [(key, fleet.last_status) for key, fleet in self.by_key.items()]

    def cancel_tasks(self) -> None:
        for fleet in self.by_key.values():
            for task in fleet.tasks:
                task.cancel()  # e.g. a re-dispatch sweep: its client is closed next
