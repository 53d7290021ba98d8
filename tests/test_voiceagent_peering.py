"""Two peered operators and one VoiceAgent: only the active replica scales workers.

kopf pauses a replica when one with a higher priority joins its peering. The paused one
keeps its in-memory view of the fleet, which goes stale, so it must stop acting on it:
it answers worker reports with 503 (the worker retries at once, and the Service may send
the retry to the active replica) until kopf resumes it.
"""

from __future__ import annotations

import time

import pytest
from switchboard.livekit.client import LiveKitEndpoint

from tests.support.chart import PEERING, apply_peering
from tests.support.kube import Kube, wait_for
from tests.support.voiceagent_stack import Factory, Stack

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.livekit,
    pytest.mark.usefixtures("kube_crds", "chart_crds"),
]


def _peered(factory: Factory, endpoint: LiveKitEndpoint, kube: Kube, priority: int) -> Stack:
    return Stack(
        factory,
        endpoint,
        kube,
        f"--peering={PEERING}",
        f"--priority={priority}",
        log_name=f"operator-{priority}.log",
    )


async def test_a_demoted_replica_stops_scaling(
    kube: Kube, livekit_endpoint: LiveKitEndpoint, operator_factory: Factory
) -> None:
    apply_peering(kube)
    low = _peered(operator_factory, livekit_endpoint, kube, 10)
    first = low.warm_worker()
    wait_for(lambda: low.report("desk", first, 1) == 200, "the only replica to take reports")
    wait_for(lambda: low.replicas("desk") >= 2, "scale up by the active replica")

    high = _peered(operator_factory, livekit_endpoint, kube, 20)
    wait_for(lambda: "Pausing operations in favour of" in low.op.text(), "the first to pause")
    # kopf logs the pause a moment before it stops the daemons; a heartbeat that changes
    # nothing is harmless in that window.
    wait_for(lambda: low.report("desk", first, 1) == 503, "the demoted replica to stand by")
    replicas = low.replicas("desk")
    # The call ends. The demoted replica must not decide from its stale view: if it did, it
    # would remove the now idle workers after scaleDownDelay (2 s). (The new active replica
    # holds off scale-downs for one report TTL after taking over.)
    assert low.report("desk", first, 0) == 503
    time.sleep(3)
    assert low.replicas("desk") == replicas
    # ...and the new active replica takes the same worker's reports and decides.
    wait_for(lambda: high.report("desk", first, 1) == 200, "the new active replica")
    assert (low.metric("switchboard_worker_reports_total", result="standby") or 0) >= 1
    assert (high.metric("switchboard_worker_reports_total", result="accepted") or 0) >= 1
