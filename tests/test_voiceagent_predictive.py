"""The predictive warm pool on the real control plane: a burst of calls raises the pool at once,
the fleet falls back to the pool when the calls end, and a quiet period lowers the pool.

Worker pods are kwok fakes, so the test plays the workers: each "call" is a report from a
worker process that is not a pod (a local worker), which the operator counts like any other.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from switchboard.livekit.client import LiveKitEndpoint

from tests.support.kube import Kube, wait_for
from tests.support.voiceagent_stack import Factory, Stack

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.livekit,
    pytest.mark.usefixtures("kube_crds"),
    pytest.mark.timeout(600),
]

# warm.max well above what the burst asks: a pool held at its cap would first have to decay
# below it before a step down shows (minutes), one below the cap steps down within a minute.
PREDICTIVE = {"warm": {"mode": "predictive", "coverage": 0.999, "min": 1, "max": 400}}
BURST = 60


@pytest.fixture
def stack(kube: Kube, livekit_endpoint: LiveKitEndpoint, operator_factory: Factory) -> Stack:
    return Stack(operator_factory, livekit_endpoint, kube)


class ReplicaLog:
    """Polls the Deployment's replicas in a thread: (monotonic time, replicas) samples."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.samples, self.stop = stack, [(time.monotonic(), 0)], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            replicas = self.stack.replicas("desk")
            # Stamped when the read returns: an upper bound on when the write happened.
            self.samples.append((time.monotonic(), replicas))
            time.sleep(0.02)

    def first_at_least(self, replicas: int, after: float) -> float | None:
        return next((t for t, r in self.samples if t >= after and r >= replicas), None)


def warm(stack: Stack) -> dict:
    return (stack.va("desk").get("status") or {}).get("warm") or {}


async def test_a_burst_raises_the_pool_and_quiet_lowers_it(stack: Stack) -> None:
    stack.warm_worker(maxWorkers=BURST + 30, scaleDownDelay="1s", **PREDICTIVE)
    wait_for(lambda: warm(stack).get("mode") == "predictive", "status.warm")
    assert warm(stack)["target"] == 1  # no traffic yet: warm.min

    # A burst: BURST calls within a second or two, each on a local worker (not a pod).
    log = ReplicaLog(stack)
    log.thread.start()
    sent = [0.0] * BURST

    def call(k: int) -> int:
        sent[k] = time.monotonic()
        return stack.report("desk", f"local-{k}", 1)

    try:
        # Concurrent, as many workers report at once: a sequential loop would pace the burst
        # by the operator's decision latency, and on a loaded machine it would be no burst.
        with ThreadPoolExecutor(max_workers=20) as pool:
            assert list(pool.map(call, range(BURST))) == [200] * BURST
        # The timeouts are hang guards: the report -> replicas latency is printed, not asserted.
        wait_for(lambda: stack.replicas("desk") >= BURST + 2, "replicas: calls + pool", 90)
    finally:
        log.stop.set()
        log.thread.join()
    status = warm(stack)
    assert status["target"] > 1 and float(status["arrivalsPerMinute"]) >= 60, status
    # How long each report took to show in the replicas (calls so far + at least warm.min).
    # The i-th report sent is the i-th call: until then replicas cover i calls and warm.min.
    order = sorted(sent)
    lags = [at - t for i, t in enumerate(order) if (at := log.first_at_least(i + 2, t))]
    assert lags, (order[:3], log.samples[-3:], len(log.samples))
    lags.sort()
    print(
        f"report -> replicas: p50 {statistics.median(lags):.3f} s, "
        f"p95 {lags[int(0.95 * (len(lags) - 1))]:.3f} s over {len(lags)} reports"
    )

    # The calls end: the replicas fall back to the pool (plus its band) once the workers
    # have been idle for scaleDownDelay.
    peak_replicas = stack.replicas("desk")
    for k in range(BURST):
        assert stack.report("desk", f"local-{k}", 0) == 200
    wait_for(
        lambda: stack.heartbeat() or stack.replicas("desk") <= peak_replicas - BURST // 2,
        "scale-down after the calls end",
        120,
    )
    # Then nothing at all is reported (no heartbeat either: the idle local workers may go
    # stale, which starts or ends no call): the decaying estimate lowers the pool, and only the
    # decision's own recheck is there to notice. Compared with the pool after the calls ended.
    after = warm(stack)["target"]
    assert after > 1, status
    lowered = wait_for(
        lambda: w if (w := warm(stack))["target"] < after else None,
        "the pool to shrink in the quiet",
        240,
    )
    assert lowered["target"] >= 1 and lowered["mode"] == "predictive", lowered
