"""The scaling simulator's world: pods, calls, a ReplicaSet and LiveKit's call placement."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from bench.common import pct

# Event order at equal times: capacity is freed and added before calls arrive; policies last.
END, READY, ARRIVE, DECIDE = range(4)
EPS = 1e-9
WARMUP_S = 600.0  # see `cold_pct_after_warmup`


@dataclass(eq=False)
class Pod:
    name: str
    seq: int
    created: float
    ready: bool = False
    ready_at: float = 0.0
    calls: int = 0
    idle_since: float | None = None
    terminating: bool = False
    gone: float | None = None
    cost: int = 0
    served: int = 0  # calls it took


@dataclass(eq=False)
class Call:
    start: float
    duration: float
    served: float | None = None
    pod: Pod | None = None


class Policy(Protocol):
    name: str
    period_s: float | None  # polled every period_s ...
    react_s: float | None  # ... or evaluated react_s after every change (batched)

    def evaluate(self, sim: Sim) -> float | None:
        """Set the replicas; return seconds until the policy wants to look again, if any."""
        ...


class Sim:
    """One run of one policy over one trace."""

    def __init__(
        self,
        trace: list[tuple[float, float]],
        policy: Policy,
        pod_start_s: float,
        cpw: int,
        seed: int = 1,
    ) -> None:
        self.calls = [Call(s, d) for s, d in trace]
        self.policy, self.pod_start_s, self.cpw = policy, pod_start_s, cpw
        self.rng = random.Random(seed)
        self.now = 0.0
        self.pods: list[Pod] = []
        self._present: list[Pod] = []
        self.waiting: deque[Call] = deque()
        self.busy_removed = 0
        self.ended: list[float] = []  # call end times, in order: what the operator sees
        self.timeline: list[tuple[float, int, int, int, int]] = []
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self._react_pending = False
        self._recheck_at = math.inf
        self._prewarm = False

    # -- the world ------------------------------------------------------------------------
    def present(self) -> list[Pod]:
        # Pods leave only by `gone` being set: prune them here so that a long trace's thousands
        # of departed pods are not walked on every event.
        self._present = [p for p in self._present if p.gone is None]
        return list(self._present)

    def live(self) -> list[Pod]:
        """Pods the ReplicaSet counts: present and not terminating."""
        return [p for p in self.present() if not p.terminating]

    def demand(self) -> int:
        return sum(p.calls for p in self.live()) + len(self.waiting)

    def scale(self, replicas: int) -> None:
        """The ReplicaSet: create or remove pods to reach `replicas` live ones."""
        live = self.live()
        for _ in range(replicas - len(live)):
            seq = len(self.pods)
            pod = Pod(f"w{seq:04d}", seq, self.now, ready_at=self.now + self.pod_start_s)
            self.pods.append(pod)
            self._present.append(pod)
            if self._prewarm:
                pod.ready, pod.ready_at, pod.idle_since = True, self.now, self.now
            else:
                self._push(pod.ready_at, READY, pod)
        ranked = sorted(live, key=lambda p: (p.ready, p.cost, -p.ready_at, -p.seq))
        for pod in ranked[: max(0, len(live) - replicas)]:
            pod.terminating = True
            if pod.calls:
                self.busy_removed += 1
            else:
                pod.gone = self.now

    def _pick(self) -> Pod | None:
        free = [p for p in self.live() if p.ready and p.calls < self.cpw]
        if not free:
            return None
        weights = [self.cpw - p.calls for p in free]
        return self.rng.choices(free, weights)[0]

    def _serve(self) -> None:
        while self.waiting and (pod := self._pick()):
            call = self.waiting.popleft()
            call.served, call.pod = self.now, pod
            pod.calls += 1
            pod.served += 1
            pod.idle_since = None
            self._push(self.now + call.duration, END, call)

    # -- the event loop -------------------------------------------------------------------
    def _push(self, t: float, kind: int, item: Any) -> None:
        heapq.heappush(self._heap, (t, kind, next(self._seq), item))

    def _evaluate(self) -> None:
        again = self.policy.evaluate(self)
        if again is not None and self.now + again + 1e-6 < self._recheck_at:
            self._recheck_at = self.now + again + 1e-6
            self._push(self._recheck_at, DECIDE, "recheck")

    def _record(self) -> None:
        present = self.present()
        row = (
            self.now,
            len(present),
            sum(1 for p in present if p.ready and not p.terminating),
            sum(p.calls for p in present),
            len(self.waiting),
        )
        if self.timeline and self.timeline[-1][1:] == row[1:]:
            return
        self.timeline.append(row)

    def run(self) -> dict[str, Any]:
        for call in self.calls:
            self._push(call.start, ARRIVE, call)
        self._prewarm = True
        self._evaluate()
        self._prewarm = False
        if self.policy.period_s:
            self._push(self.policy.period_s, DECIDE, "tick")
        self._record()
        remaining = len(self.calls)
        while remaining and self._heap:
            self.now, kind, _, item = heapq.heappop(self._heap)
            if kind == DECIDE:
                if item == "tick":
                    assert self.policy.period_s
                    self._push(self.now + self.policy.period_s, DECIDE, "tick")
                elif item == "react":
                    self._react_pending = False
                elif item == "recheck":
                    if self.now < self._recheck_at - EPS:
                        continue
                    self._recheck_at = math.inf
                self._evaluate()
                self._record()
                continue
            if kind == ARRIVE:
                self.waiting.append(item)
            elif kind == END:
                remaining -= 1
                self.ended.append(self.now)
                pod = item.pod
                pod.calls -= 1
                if pod.calls == 0:
                    pod.idle_since = self.now if pod.ready else None
                    if pod.terminating:
                        pod.gone = self.now
            elif kind == READY:
                if item.gone is not None or item.terminating:
                    continue
                item.ready, item.idle_since = True, self.now
            self._serve()
            if self.policy.react_s is not None and not self._react_pending:
                self._react_pending = True
                self._push(self.now + self.policy.react_s, DECIDE, "react")
            self._record()
        return self.metrics()

    def metrics(self) -> dict[str, Any]:
        end = self.now
        waits = [c.served - c.start for c in self.calls if c.served is not None]
        cold = sum(1 for w in waits if w > EPS)
        call_s = sum(c.duration for c in self.calls)
        worker_s = sum(
            max(0.0, min(end, p.gone if p.gone is not None else end) - p.created) for p in self.pods
        )
        n = len(self.calls)
        # A fleet created as the trace starts knows nothing of its traffic yet: the calls of its
        # first minutes are also counted apart (policies with a fixed pool start warm).
        later = [c for c in self.calls if c.start >= WARMUP_S and c.served is not None]
        cold_later = sum(1 for c in later if c.served - c.start > EPS)
        return {
            "policy": self.policy.name,
            "calls": n,
            "cold_calls": cold,
            "cold_pct": round(100 * cold / n, 3) if n else 0.0,
            "cold_pct_after_warmup": round(100 * cold_later / len(later), 3) if later else 0.0,
            "wait_mean_s": round(statistics.fmean(waits), 3) if waits else 0.0,
            "wait_p95_s": round(pct(waits, 95), 3) if waits else 0.0,
            "wait_max_s": round(max(waits), 3) if waits else 0.0,
            "worker_seconds": round(worker_s, 3),
            "call_seconds": round(call_s, 3),
            "worker_seconds_per_call_second": round(worker_s / call_s, 4) if call_s else 0.0,
            "peak_workers": max((row[1] for row in self.timeline), default=0),
            "pods_started": len(self.pods),
            "pods_per_call": round(len(self.pods) / n, 3) if n else 0.0,
            # Started and gone without a call: pure churn (the trace's last idle pods excluded).
            "pods_unused": sum(1 for p in self.pods if not p.served and p.gone is not None),
            "busy_pods_removed": self.busy_removed,
        }


# -- policies ---------------------------------------------------------------------------------
