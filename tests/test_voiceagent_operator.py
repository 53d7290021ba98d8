"""VoiceAgent end to end: dispatch rules on real LiveKit, workers and scaling on a real cluster.

Worker pods are kwok fakes (no processes), so this test plays their part and POSTs the
load reports a real worker sends; the agent tier tests the worker side of that contract.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.voiceagent.fleet import REPORT_TTL_S

from tests.support.kube import GROUP, VERSION, Kube, wait_for
from tests.support.voiceagent_stack import NUMBER, Factory, Stack, agent, trunk

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]


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
    assert rule.room_config.agents[0].agent_name == f"{kube.namespace}/desk"

    # The warm pool: one idle worker with no calls, admitted under PSA "restricted".
    assert stack.replicas("desk") == 1
    wait_for(lambda: len(stack.pods("desk")) == 1, "one ready worker pod")
    stack.wait_condition("desk", "Ready", "True")
    dep = kube.apps.read_namespaced_deployment("desk-worker", kube.namespace)
    assert dep.metadata.owner_references[0].kind == "VoiceAgent"
    assert dep.spec.template.spec.termination_grace_period_seconds >= 3600
    cm = kube.core.read_namespaced_config_map("desk-agent-config", kube.namespace)
    assert json.loads(cm.data["agent-config.json"])["agentName"] == f"{kube.namespace}/desk"


async def test_scale_up_and_down_keeps_busy_workers(stack: Stack) -> None:
    kube = stack.kube
    first = stack.warm_worker()
    # A call lands on the warm worker: the pool refills to keep an idle worker ready.
    assert stack.report("desk", first, 1) == 200
    wait_for(lambda: stack.replicas("desk") >= 2, "scale up")
    others = wait_for(lambda: [p for p in stack.pods("desk") if p != first], "a second worker")
    # While the only worker was busy LiveKit could have dropped a call: the new free slot
    # starts a sweep for such calls (redispatch.py; the livekit tier tests the sweep itself).
    wait_for(
        lambda: (stack.metric("switchboard_livekit_requests_total", method="ListRooms") or 0) >= 1,
        "a re-dispatch sweep",
    )
    assert stack.report("desk", others[0], 1) == 200
    wait_for(lambda: stack.replicas("desk") >= 3, "scale up for the second call")

    def counted() -> bool:
        stack.heartbeat()  # on a slow machine the first report can outlive its TTL by now
        status = stack.va("desk")["status"]
        return status["activeCalls"] == 2 and status["workers"]["busy"] == 2

    wait_for(counted, "status to count 2 calls on 2 busy workers")
    va = {"namespace": kube.namespace, "voiceagent": "desk"}
    assert stack.metric("switchboard_voiceagent_active_calls", **va) == 2
    assert stack.metric("switchboard_voiceagent_workers", **va, state="busy") == 2
    assert stack.metric("switchboard_worker_reports_total", result="accepted") >= 2
    assert (stack.metric("switchboard_scaling_decision_seconds_count") or 0) >= 2

    # The second call ends; the first worker stays busy. After scaleDownDelay the fleet
    # shrinks to busy + warm = 2, and the busy worker is never the one removed.
    assert stack.report("desk", others[0], 0) == 200
    wait_for(
        lambda: stack.heartbeat() or stack.replicas("desk") == 2, "scale down after scaleDownDelay"
    )
    wait_for(
        lambda: stack.heartbeat() or len(stack.pods("desk", ready_only=False)) == 2, "pods removed"
    )
    survivors = stack.pods("desk", ready_only=False)
    assert first in survivors, "the busy worker must never be chosen for scale-down"

    def events() -> set[str]:
        return {
            e.reason
            for e in kube.core.list_namespaced_event(kube.namespace).items
            if e.involved_object.name == "desk"
        }

    # the event is posted after the scale it reports: the pods can be gone first
    wait_for(lambda: {"ScaledUp", "ScaledDown"} <= events(), "ScaledUp and ScaledDown events")


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
    wait_for(
        lambda: not kube.apps.list_namespaced_deployment(kube.namespace).items,
        "garbage collection of the worker Deployment",
    )


async def test_livekit_outage_then_converges(stack: Stack, livekit_server) -> None:
    kube = stack.kube
    kube.create(trunk())
    kube.create(agent())
    stack.wait_condition("desk", "LiveKitSynced", "True")
    livekit_server.stop_server()
    try:
        # A spec change needs LiveKit: the condition says it cannot get there.
        kube.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            kube.namespace,
            "voiceagents",
            "desk",
            {"spec": {"telephony": {"dispatch": {"roomPrefix": "room-"}}}},
        )
        stack.wait_condition("desk", "LiveKitSynced", "False", "LiveKitUnavailable")
    finally:
        livekit_server.start_server()
    stack.wait_condition("desk", "LiveKitSynced", "True")


async def test_operator_restart_keeps_busy_workers_and_one_rule(
    stack: Stack, livekit: LiveKitClient, operator_factory: Factory
) -> None:
    first = stack.warm_worker()
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
    busy = stack.warm_worker()
    assert stack.report("desk", busy, 1) == 200
    wait_for(lambda: len(stack.pods("desk")) >= 2, "the pool to refill")
    old = set(stack.pods("desk", ready_only=False))

    deletions: list[tuple[str, int | None]] = []
    w = k8s_watch.Watch()
    stream = w.stream(
        kube.core.list_namespaced_pod,
        kube.namespace,
        timeout_seconds=120,
        label_selector="app.kubernetes.io/component=agent-worker",
    )
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


async def test_a_missing_livekit_secret_is_config_not_found(stack: Stack) -> None:
    """A brand-new VoiceAgent whose LiveKit Secret does not exist gets its condition."""
    stack.kube.create(trunk())
    doc = agent()
    doc["spec"]["livekit"] = {"secretRef": {"name": "no-such-livekit"}}
    stack.kube.create(doc)
    cond = stack.wait_condition("desk", "Ready", "False", "SecretNotFound")
    assert "no-such-livekit" in cond["message"]


def _created(kube: Kube, doc: dict[str, Any]) -> bool:
    try:
        kube.create(copy.deepcopy(doc))
    except ApiException as err:
        if err.status == 422:
            return False
        raise
    return True


@contextlib.contextmanager
def _crd_without_duration_bounds(kube: Kube) -> Iterator[None]:
    """The VoiceAgent CRD minus maxCallDuration's CEL bound, as an older, looser CRD had:
    objects it admitted stay stored when a stricter CRD arrives (no re-validation)."""
    ext = client.ApiextensionsV1Api(kube.api)
    crd = f"voiceagents.{GROUP}"
    keys = ["spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec"]
    keys += ["properties", "telephony", "properties", "maxCallDuration"]
    node = kube.api.sanitize_for_serialization(ext.read_custom_resource_definition(crd))
    for key in keys:
        node = node[key]
    rules = node["x-kubernetes-validations"]
    path = "/" + "/".join(str(k) for k in keys) + "/x-kubernetes-validations"
    ext.patch_custom_resource_definition(crd, [{"op": "remove", "path": path}])
    try:
        yield
    finally:  # the real rule back, for every later test
        ext.patch_custom_resource_definition(crd, [{"op": "add", "path": path, "value": rules}])


async def test_a_spec_the_api_model_refuses_is_invalid_not_retried(stack: Stack) -> None:
    """A stored spec today's model refuses (admitted by a looser CRD before an upgrade):
    InvalidSpec naming the field, no retry loop, fixed by an edit, never blocks deletion."""
    stack.kube.create(trunk())
    doc = agent()
    doc["spec"]["telephony"]["maxCallDuration"] = "169h"
    with _crd_without_duration_bounds(stack.kube):
        # the API server takes a moment to serve the patched schema
        wait_for(lambda: _created(stack.kube, doc), "the looser CRD to admit the spec")
        cond = stack.wait_condition("desk", "Ready", "False", "InvalidSpec")
        assert cond["message"].startswith("spec.telephony.maxCallDuration: ")
        assert "longer than 168h" in cond["message"]
        assert stack.va("desk")["status"]["observedGeneration"] == 1

        def set_duration(value: str) -> None:
            stack.kube.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                stack.kube.namespace,
                "voiceagents",
                "desk",
                {"spec": {"telephony": {"maxCallDuration": value}}},
            )

        set_duration("1h")  # editing the spec is what fixes it: the next generation syncs
        stack.wait_condition("desk", "LiveKitSynced", "True")
        set_duration("169h")
        stack.wait_condition("desk", "Ready", "False", "InvalidSpec")
    stack.kube.delete("VoiceAgent", "desk")  # an invalid spec never blocks its own deletion

    def gone() -> bool:
        listed = stack.kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, stack.kube.namespace, "voiceagents"
        )
        return not listed["items"]

    wait_for(gone, "the VoiceAgent gone")


def _no_phone(name: str, **spec: Any) -> dict[str, Any]:
    doc = agent(name)
    del doc["spec"]["telephony"]
    doc["spec"].update(spec)
    return doc


async def test_voiceagents_whose_names_clean_alike_get_separate_workers(stack: Stack) -> None:
    """Failed before: `a.b` and `a-b` both mapped to Deployment/Secret `a-b-worker`."""
    kube = stack.kube
    for name in ("a.b", "a-b"):
        kube.create(_no_phone(name))
    for name in ("a.b", "a-b"):
        stack.wait_condition(name, "LiveKitSynced", "True")

    def owners() -> dict[str, str] | None:
        deps = kube.apps.list_namespaced_deployment(kube.namespace).items
        found = {d.metadata.name: d.metadata.owner_references[0].name for d in deps}
        return found if len(found) == 2 else None

    found = wait_for(owners, "one worker Deployment per VoiceAgent")
    assert sorted(found.values()) == ["a-b", "a.b"]
    assert found["a-b-worker"] == "a-b"  # the clean name kept as it is


async def test_an_existing_object_it_does_not_own_is_a_conflict(stack: Stack) -> None:
    """Failed before: server-side apply with force adopted the stranger's Secret, and
    deleting the VoiceAgent then garbage-collected it."""
    kube = stack.kube
    kube.core.create_namespaced_secret(
        kube.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="desk-worker"), string_data={"x": "1"}),
    )
    kube.create(_no_phone("desk"))
    cond = stack.wait_condition("desk", "Ready", "False", "Conflict")
    assert "Secret 'desk-worker' already exists" in cond["message"]
    secret = kube.core.read_namespaced_secret("desk-worker", kube.namespace)
    assert not secret.metadata.owner_references and set(secret.data) == {"x"}
    assert not kube.apps.list_namespaced_deployment(kube.namespace).items


async def test_a_second_claimant_of_an_agent_name_gets_conflict(stack: Stack) -> None:
    """Failed before: both registered workers as `shared` and took each other's calls."""
    kube = stack.kube
    kube.create(_no_phone("first", agentName="shared"))
    stack.wait_condition("first", "LiveKitSynced", "True")
    kube.create(_no_phone("second", agentName="shared"))
    cond = stack.wait_condition("second", "Ready", "False", "Conflict")
    assert f"VoiceAgent {kube.namespace}/first" in cond["message"]
    assert stack.condition("first", "Ready") is not None
    assert stack.condition("first", "LiveKitSynced")["status"] == "True"  # type: ignore[index]
    deps = {d.metadata.name for d in kube.apps.list_namespaced_deployment(kube.namespace).items}
    assert deps == {"first-worker"}  # the second never started workers under the name
