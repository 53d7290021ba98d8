"""VoiceAgent end to end: dispatch rules on real LiveKit, workers and scaling on a real cluster.

Worker pods are kwok fakes (no processes), so this test plays their part and POSTs the
load reports a real worker sends; the agent tier tests the worker side of that contract.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.voiceagent.fleet import REPORT_TTL_S
from switchboard.voiceagent.reports import report_token
from switchboard_contract.report import REPORT_PATH, WorkerReport

from devstack.procs import free_port
from tests.fixtures.kube import GROUP, VERSION, Kube, wait_for
from tests.fixtures.operator import OperatorProcess

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]
Factory = Callable[..., OperatorProcess]
NUMBER = "+15550100100"


def trunk(name: str = "carrier") -> dict[str, Any]:
    inbound = {"numbers": [NUMBER], "allowedAddresses": ["127.0.0.1/32"]}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk", "metadata": {"name": name},
            "spec": {"inbound": inbound}}  # fmt: skip


def agent(name: str = "desk", trunks: tuple[str, ...] = ("carrier",), **scaling: Any) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "VoiceAgent", "metadata": {"name": name},
        "spec": {
            "greeting": "Hello",
            "pipeline": {"stt": {"provider": "pocketsphinx"},
                         "llm": {"provider": "scripted", "script": {"intents": []}},
                         "tts": {"provider": "flite"}},
            "telephony": {"trunks": list(trunks), "numbers": [NUMBER]},
            "scaling": {"warmWorkers": 1, "minWorkers": 0, "maxWorkers": 5,
                        "scaleDownDelay": "2s", **scaling},
        },
    }  # fmt: skip


class Stack:
    """The operator with its report endpoint on a free loopback port."""

    def __init__(self, factory: Factory, endpoint: LiveKitEndpoint, kube: Kube) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.kube = kube
        self.endpoint = endpoint
        self.op = factory(
            endpoint,
            SWITCHBOARD_REPORT_LISTEN=f"127.0.0.1:{self.port}",
            SWITCHBOARD_METRICS_LISTEN=f"127.0.0.1:{self.metrics_port}",
            SWITCHBOARD_AGENT_IMAGE="registry.local/switchboard-agent:test",
        )
        self.key = OperatorConfig(livekit_api_secret=endpoint.api_secret).report_hmac_key()
        self.seq = 0

    def report(self, va: str, pod: str, active: int) -> int:
        self.seq += 1
        body = WorkerReport(namespace=self.kube.namespace, voice_agent=va, pod=pod,
                            active_calls=active, capacity=1, seq=self.seq)  # fmt: skip
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{REPORT_PATH}", data=body.model_dump_json().encode(),
            headers={"Authorization": f"Bearer {report_token(self.key, self.kube.namespace, va)}",
                     "Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except (urllib.error.URLError, OSError):
            return 0  # the operator is not listening (yet)

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample from the operator's /metrics (None when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    def va(self, name: str) -> dict[str, Any]:
        self.op.check_alive()
        return self.kube.get("VoiceAgent", name)

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        conds = (self.va(name).get("status") or {}).get("conditions", [])
        return next((c for c in conds if c["type"] == type_), None)

    def wait_condition(self, name: str, type_: str, status: str, reason: str | None = None):
        def check() -> dict[str, Any] | None:
            c = self.condition(name, type_)
            ok = c and c["status"] == status and reason in (None, c["reason"])
            return c if ok else None

        return wait_for(check, f"{name} {type_}={status} {reason or ''}", 90)

    def replicas(self, name: str) -> int:
        dep = self.kube.apps.read_namespaced_deployment(f"{name}-worker", self.kube.namespace)
        return int(dep.spec.replicas)

    def pods(self, name: str, ready_only: bool = True) -> list[str]:
        sel = f"app.kubernetes.io/component=agent-worker,switchboard.dev/voiceagent={name}"
        out = []
        for p in self.kube.core.list_namespaced_pod(self.kube.namespace, label_selector=sel).items:
            ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            if p.metadata.deletion_timestamp is None and (ready or not ready_only):
                out.append(p.metadata.name)
        return sorted(out)


@pytest.fixture
def stack(kube: Kube, livekit_endpoint: LiveKitEndpoint, operator_factory: Factory) -> Stack:
    return Stack(operator_factory, livekit_endpoint, kube)


async def test_dispatch_rule_and_worker_fleet(stack: Stack, livekit: LiveKitClient) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    stack.wait_condition("desk", "LiveKitSynced", "True")
    status = stack.va("desk")["status"]
    (rule,) = await livekit.list_dispatch_rules([status["dispatchRuleID"]])
    trunk_id = kube.get("SipTrunk", "carrier")["status"]["inboundTrunkID"]
    assert list(rule.trunk_ids) == [trunk_id] and list(rule.numbers) == [NUMBER]
    assert rule.room_config.agents[0].agent_name == f"{kube.namespace}-desk"

    # The warm pool: one idle worker with no calls, admitted under PSA "restricted".
    assert stack.replicas("desk") == 1
    wait_for(lambda: len(stack.pods("desk")) == 1, "one ready worker pod")
    stack.wait_condition("desk", "Ready", "True")
    dep = kube.apps.read_namespaced_deployment("desk-worker", kube.namespace)
    assert dep.metadata.owner_references[0].kind == "VoiceAgent"
    assert dep.spec.template.spec.termination_grace_period_seconds >= 3600
    cm = kube.core.read_namespaced_config_map("desk-agent-config", kube.namespace)
    assert json.loads(cm.data["agent-config.json"])["agentName"] == f"{kube.namespace}-desk"


async def test_scale_up_and_down_keeps_busy_workers(stack: Stack) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    (first,) = wait_for(lambda: stack.pods("desk") if len(stack.pods("desk")) == 1 else None,
                        "the warm worker")  # fmt: skip
    # A call lands on the warm worker: the pool refills to keep an idle worker ready.
    assert stack.report("desk", first, 1) == 200
    wait_for(lambda: stack.replicas("desk") >= 2, "scale up")
    others = wait_for(lambda: [p for p in stack.pods("desk") if p != first], "a second worker")
    assert stack.report("desk", others[0], 1) == 200
    wait_for(lambda: stack.replicas("desk") >= 3, "scale up for the second call")

    def counted() -> bool:
        status = stack.va("desk")["status"]
        return status["activeCalls"] == 2 and status["workers"]["busy"] == 2

    wait_for(counted, "status to count 2 calls on 2 busy workers")
    va = {"namespace": kube.namespace, "voiceagent": "desk"}
    assert stack.metric("switchboard_voiceagent_active_calls", **va) == 2
    assert stack.metric("switchboard_voiceagent_workers", **va, state="busy") == 2
    assert stack.metric("switchboard_worker_reports_total", result="accepted") == 2
    assert (stack.metric("switchboard_scaling_decision_seconds_count") or 0) >= 2

    # The second call ends; the first worker stays busy. After scaleDownDelay the fleet
    # shrinks to busy + warm = 2, and the busy worker is never the one removed.
    assert stack.report("desk", others[0], 0) == 200
    wait_for(lambda: stack.replicas("desk") == 2, "scale down after scaleDownDelay")
    wait_for(lambda: len(stack.pods("desk", ready_only=False)) == 2, "pods removed")
    survivors = stack.pods("desk", ready_only=False)
    assert first in survivors, "the busy worker must never be chosen for scale-down"
    events = [e.reason for e in kube.core.list_namespaced_event(kube.namespace).items
              if e.involved_object.name == "desk"]  # fmt: skip
    assert "ScaledUp" in events and "ScaledDown" in events


async def test_reports_need_the_agents_token(stack: Stack) -> None:
    stack.kube.create(trunk())
    stack.kube.create(agent())
    stack.wait_condition("desk", "LiveKitSynced", "True")
    stack.key = b"wrong-key"
    assert stack.report("desk", "p", 1) == 401
    assert stack.metric("switchboard_worker_reports_total", result="unauthorized") == 1


async def test_missing_trunk_then_rule_follows(stack: Stack, livekit: LiveKitClient) -> None:
    kube = stack.kube
    kube.create(agent(trunks=("late",)))
    cond = stack.wait_condition("desk", "LiveKitSynced", "False", "TrunkNotFound")
    assert "'late'" in cond["message"]
    assert stack.condition("desk", "Ready")["status"] == "False"
    kube.create(trunk("late"))
    stack.wait_condition("desk", "LiveKitSynced", "True")
    assert len(await livekit.list_dispatch_rules()) == 1


async def test_conflicting_claims_name_the_other_voiceagent(stack: Stack) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent("first"))
    stack.wait_condition("first", "LiveKitSynced", "True")
    kube.create(agent("second"))
    cond = stack.wait_condition("second", "LiveKitSynced", "False", "Conflict")
    assert f"VoiceAgent {kube.namespace}/first" in cond["message"]


async def test_delete_removes_rule_and_workers(stack: Stack, livekit: LiveKitClient) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    stack.wait_condition("desk", "LiveKitSynced", "True")
    kube.delete("VoiceAgent", "desk")

    def gone() -> bool:
        try:
            kube.get("VoiceAgent", "desk")
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, "VoiceAgent deletion")
    assert await livekit.list_dispatch_rules() == []
    wait_for(lambda: not kube.apps.list_namespaced_deployment(kube.namespace).items,
             "garbage collection of the worker Deployment")  # fmt: skip


async def test_livekit_outage_then_converges(stack: Stack, livekit_server) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    stack.wait_condition("desk", "LiveKitSynced", "True")
    livekit_server.stop_server()
    try:
        # A spec change needs LiveKit: the condition says it cannot get there.
        kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "voiceagents", "desk",
            {"spec": {"telephony": {"dispatch": {"roomPrefix": "room-"}}}},
        )  # fmt: skip
        stack.wait_condition("desk", "LiveKitSynced", "False", "LiveKitUnavailable")
    finally:
        livekit_server.start_server()
    stack.wait_condition("desk", "LiveKitSynced", "True")


async def test_operator_restart_keeps_busy_workers_and_one_rule(
    stack: Stack, livekit: LiveKitClient, operator_factory: Factory
) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    (first,) = wait_for(lambda: stack.pods("desk") if len(stack.pods("desk")) == 1 else None,
                        "the warm worker")  # fmt: skip
    assert stack.report("desk", first, 1) == 200
    wait_for(lambda: stack.replicas("desk") >= 2, "scale up")
    before = stack.replicas("desk")

    stack.op.kill()
    stack.op = operator_factory(
        stack.endpoint,
        SWITCHBOARD_REPORT_LISTEN=f"127.0.0.1:{stack.port}",
        SWITCHBOARD_AGENT_IMAGE="registry.local/switchboard-agent:test",
    )
    # The worker keeps heartbeating its call to whichever operator is up.
    wait_for(lambda: stack.report("desk", first, 1) == 200, "the new operator to take reports")
    stack.wait_condition("desk", "LiveKitSynced", "True")
    deadline = time.monotonic() + REPORT_TTL_S + 3
    while time.monotonic() < deadline:  # past the settling window, heartbeating like a worker
        assert first in stack.pods("desk", ready_only=False)
        stack.report("desk", first, 1)
        time.sleep(1)
    assert stack.replicas("desk") >= before - 1  # at most the surplus idle one goes
    assert first in stack.pods("desk", ready_only=False)
    assert len(await livekit.list_dispatch_rules()) == 1


async def test_rollout_with_a_busy_worker_drains_it_last(stack: Stack) -> None:
    """A spec change rolls the workers. The half of "no dropped call" that Kubernetes owns:
    capacity never dips (maxUnavailable 0), the busy worker is the last old pod removed, and
    it is deleted with a grace period covering maxCallDuration, in which the worker drains
    (the agent tier's SIGTERM test covers that half with a real call)."""
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    (busy,) = wait_for(lambda: stack.pods("desk") if len(stack.pods("desk")) == 1 else None,
                       "the warm worker")  # fmt: skip
    assert stack.report("desk", busy, 1) == 200
    wait_for(lambda: len(stack.pods("desk")) >= 2, "the pool to refill")
    old = set(stack.pods("desk", ready_only=False))

    deletions: list[tuple[str, int | None]] = []
    w = k8s_watch.Watch()
    stream = w.stream(kube.core.list_namespaced_pod, kube.namespace, timeout_seconds=120,
                      label_selector="app.kubernetes.io/component=agent-worker")  # fmt: skip
    kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, "voiceagents", "desk", {"spec": {"greeting": "Hi!"}}
    )
    min_ready = len(old)
    for event in stream:
        stack.report("desk", busy, 1)  # the worker keeps its call (heartbeat)
        pod = event["object"]
        name = pod.metadata.name
        seen = [d[0] for d in deletions]
        if pod.metadata.deletion_timestamp is not None and name in old and name not in seen:
            deletions.append((name, pod.metadata.deletion_grace_period_seconds))
        min_ready = min(min_ready, len(stack.pods("desk")))
        if {d[0] for d in deletions} == old:
            w.stop()
    assert [d[0] for d in deletions][-1] == busy, f"busy worker not last: {deletions}"
    assert all(grace is not None and grace >= 3600 for _, grace in deletions), deletions
    assert min_ready >= 1
