"""VoiceAgent against the real kube-apiserver: schema/CEL rejections, defaults, status, GC."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.kube import DELETE, GROUP, VERSION, Kube, mutate, rejection, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

SECRET_KEY = {"name": "voice-providers", "key": "api-key"}

AGENT: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "VoiceAgent",
    "metadata": {"name": "front-desk"},
    "spec": {
        "instructions": "Be brief.",
        "pipeline": {
            "stt": {"provider": "pocketsphinx"},
            "llm": {
                "provider": "scripted",
                "script": {
                    "intents": [
                        {
                            "name": "human",
                            "keywords": ["human"],
                            "reply": "Transferring you.",
                            "action": {"type": "transfer", "target": "reception"},
                        }
                    ]
                },
            },
            "tts": {"provider": "flite"},
        },
        "telephony": {
            "trunks": ["local-carrier"],
            "transferTargets": [{"name": "reception", "uri": "sip:reception@127.0.0.1"}],
        },
    },
}

REALTIME = {"provider": "openai", "apiKeySecretRef": SECRET_KEY}

# (id, changes to AGENT, field path the server must name, fragment of its message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # CEL rules
    (
        "pipeline-and-realtime",
        {"spec.realtime": REALTIME},
        "spec",
        "exactly one of spec.pipeline or spec.realtime is required",
    ),
    (
        "neither-pipeline-nor-realtime",
        {"spec.pipeline": DELETE},
        "spec",
        "exactly one of spec.pipeline or spec.realtime is required",
    ),
    (
        "instructions-twice",
        {"spec.instructionsFrom": {"configMapKeyRef": {"name": "prompt", "key": "text"}}},
        "spec",
        "set at most one of spec.instructions or spec.instructionsFrom",
    ),
    (
        "cloud-stt-without-key",
        {"spec.pipeline.stt.provider": "deepgram"},
        "spec.pipeline.stt.apiKeySecretRef",
        "apiKeySecretRef is required for a cloud provider",
    ),
    (
        "cloud-tts-without-key",
        {"spec.pipeline.tts.provider": "cartesia"},
        "spec.pipeline.tts.apiKeySecretRef",
        "apiKeySecretRef is required for a cloud provider",
    ),
    (
        "scripted-llm-without-script",
        {"spec.pipeline.llm.script": DELETE},
        "spec.pipeline.llm.script",
        "the scripted provider needs script",
    ),
    (
        "transfer-without-target",
        {"spec.pipeline.llm.script.intents.0.action.target": DELETE},
        "spec.pipeline.llm.script.intents[0].action.target",
        "a transfer action needs target",
    ),
    # the worker's own rules (switchboard_contract), said at admission as CEL and schema
    (
        "hangup-with-target",
        {"spec.pipeline.llm.script.intents.0.action.type": "hangup"},
        "spec.pipeline.llm.script.intents[0].action.target",
        "a hangup action takes no target",
    ),
    (
        "intent-target-unknown",
        {"spec.pipeline.llm.script.intents.0.action.target": "nobody"},
        "spec.pipeline.llm.script",
        "an intent's transfer target must name a telephony.transferTargets entry",
    ),
    (
        "empty-reply",
        {"spec.pipeline.llm.script.intents.0.reply": ""},
        "spec.pipeline.llm.script.intents[0].reply",
        "should be at least 1 chars long",
    ),
    (
        "transfer-uri-without-address",
        {"spec.telephony.transferTargets.0.uri": "sip:"},
        "spec.telephony.transferTargets[0].uri",
        "should match",
    ),
    (
        "direct-dispatch-without-room",
        {"spec.telephony.dispatch": {"type": "direct"}},
        "spec.telephony.dispatch.roomName",
        "direct dispatch needs roomName",
    ),
    (
        "min-above-max-workers",
        {"spec.scaling": {"minWorkers": 5, "maxWorkers": 2}},
        "spec.scaling.minWorkers",
        "minWorkers must be less than or equal to maxWorkers",
    ),
    # enums
    (
        "tts-provider-enum",
        {"spec.pipeline.tts.provider": "polly"},
        "spec.pipeline.tts.provider",
        "Unsupported value",
    ),
    (
        "dispatch-type-enum",
        {"spec.telephony.dispatch": {"type": "round-robin"}},
        "spec.telephony.dispatch.type",
        "Unsupported value",
    ),
    (
        "action-type-enum",
        {"spec.pipeline.llm.script.intents.0.action.type": "voicemail"},
        "spec.pipeline.llm.script.intents[0].action.type",
        "Unsupported value",
    ),
    # patterns
    ("agent-name-pattern", {"spec.agentName": "Front Desk!"}, "spec.agentName", "should match"),
    (
        "transfer-uri-pattern",
        {"spec.telephony.transferTargets.0.uri": "https://example.com"},
        "spec.telephony.transferTargets[0].uri",
        "should match",
    ),
    (
        "called-number-pattern",
        {"spec.telephony.numbers": ["555-0100"]},
        "spec.telephony.numbers[0]",
        "should match",
    ),
    (
        "llm-base-url-pattern",
        {"spec.pipeline.llm.baseURL": "ftp://models.local"},
        "spec.pipeline.llm.baseURL",
        "should match",
    ),
    (
        "max-call-duration-pattern",
        {"spec.telephony.maxCallDuration": "one hour"},
        "spec.telephony.maxCallDuration",
        "should match",
    ),
    # durations are bounded at admission (CEL), as in the model: never an operator overflow
    (
        "max-call-duration-zero",
        {"spec.telephony.maxCallDuration": "0s"},
        "spec.telephony.maxCallDuration",
        "must be between 1s and 168h",
    ),
    (
        "max-call-duration-overflow",
        {"spec.telephony.maxCallDuration": "99999999999h"},
        "spec.telephony.maxCallDuration",
        "spec.telephony.maxCallDuration",
    ),
    (
        "max-call-duration-too-long",
        {"spec.telephony.maxCallDuration": "169h"},
        "spec.telephony.maxCallDuration",
        "must be between 1s and 168h",
    ),
    (
        "scale-down-delay-too-long",
        {"spec.scaling": {"scaleDownDelay": "200h"}},
        "spec.scaling.scaleDownDelay",
        "must be between 0s and 168h",
    ),
    # types and bounds
    (
        "max-workers-type",
        {"spec.scaling": {"maxWorkers": "ten"}},
        "spec.scaling.maxWorkers",
        "integer",
    ),
    (
        "calls-per-worker-minimum",
        {"spec.scaling": {"callsPerWorker": 0}},
        "spec.scaling.callsPerWorker",
        "greater than or equal to 1",
    ),
    (
        "sampling-ratio-maximum",
        {"spec.telemetry": {"samplingRatio": 1.5}},
        "spec.telemetry.samplingRatio",
        "less than or equal to 1",
    ),
    (
        "redact-pii-type",
        {"spec.telemetry": {"redactPII": "no"}},
        "spec.telemetry.redactPII",
        "boolean",
    ),
    # required fields and list semantics
    (
        "trunks-required",
        {"spec.telephony.trunks": DELETE},
        "spec.telephony.trunks",
        "Required value",
    ),
    ("trunks-empty", {"spec.telephony.trunks": []}, "spec.telephony.trunks", "at least 1 items"),
    (
        "realtime-key-required",
        {"spec.pipeline": DELETE, "spec.realtime": {"provider": "openai"}},
        "spec.realtime.apiKeySecretRef",
        "Required value",
    ),
    (
        "pricing-key-pattern",
        {"spec.pricing": {"stt": {"Deep Gram": 0.01}}},
        "spec.pricing.stt",
        "keys must match",
    ),
    (
        "pricing-negative",
        {"spec.pricing": {"tts": {"cartesia": -1}}},
        "spec.pricing.tts.cartesia",
        "greater than or equal to 0",
    ),
    (
        "pricing-llm-needs-both",
        {"spec.pricing": {"llm": {"openai/gpt-4.1-mini": {"input": 0.4}}}},
        "spec.pricing.llm.openai/gpt-4.1-mini.output",
        "Required value",
    ),
    (
        "transfer-target-duplicate",
        {
            "spec.telephony.transferTargets": [
                {"name": "reception", "uri": "sip:a@127.0.0.1"},
                {"name": "reception", "uri": "sip:b@127.0.0.1"},
            ]
        },
        "spec.telephony.transferTargets[1]",
        "Duplicate value",
    ),
]


@pytest.mark.parametrize(
    "changes,field,fragment", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_voiceagent_is_rejected_naming_the_field(
    kube: Kube, changes: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ApiException) as caught:
        kube.create(mutate(AGENT, changes))
    message = rejection(caught.value)
    assert caught.value.status == 422, message
    assert field in message, message
    assert fragment in message, message


def test_cloud_pipeline_with_keys_and_realtime_are_accepted(kube: Kube) -> None:
    cloud = mutate(
        AGENT,
        {
            "spec.pipeline.stt": {"provider": "deepgram", "apiKeySecretRef": SECRET_KEY},
            "spec.pipeline.llm": {"provider": "openai", "apiKeySecretRef": SECRET_KEY},
            "spec.pipeline.tts": {"provider": "elevenlabs", "apiKeySecretRef": SECRET_KEY},
        },
    )
    kube.create(cloud, dry_run=True)
    realtime = mutate(AGENT, {"spec.pipeline": DELETE, "spec.realtime": REALTIME})
    kube.create(realtime, dry_run=True)


def test_valid_agent_gets_schema_defaults(kube: Kube) -> None:
    spec = kube.create(AGENT)["spec"]
    assert spec["scaling"] == {
        "callsPerWorker": 1,
        "warmWorkers": 1,
        "minWorkers": 0,
        "maxWorkers": 10,
        "scaleDownDelay": "30s",
    }
    assert spec["telephony"]["dispatch"] == {"type": "individual", "roomPrefix": "call-"}
    assert spec["telephony"]["maxCallDuration"] == "1h"
    assert spec["telemetry"] == {"samplingRatio": 1.0, "redactPII": True}


def test_maps_in_the_spec_are_kept_not_pruned(kube: Kube) -> None:
    """A map field must name its values' schema, or the apiserver prunes every key (an
    object schema with neither properties nor additionalProperties keeps nothing)."""
    pricing = {
        "stt": {"deepgram/nova-3": 0.0043},
        "llm": {"openai/gpt-4.1-mini": {"input": 0.4, "output": 1.6}},
        "telephony": {"sip": 0.004},
    }
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    spec = kube.create(mutate(AGENT, {"spec.pricing": pricing, "spec.resources": resources}))[
        "spec"
    ]
    assert spec["pricing"] == pricing
    assert spec["resources"] == resources


def test_status_subresource_ignores_spec_changes(kube: Kube) -> None:
    created = kube.create(AGENT)
    body = {
        "spec": {"instructions": "Forged."},
        "status": {"activeCalls": 3, "observedGeneration": 1},
    }
    patched = kube.patch_status("VoiceAgent", "front-desk", body)
    assert patched["status"]["activeCalls"] == 3
    now = kube.get("VoiceAgent", "front-desk")
    assert now["spec"]["instructions"] == "Be brief."
    assert now["metadata"]["generation"] == created["metadata"]["generation"]


def _worker_deployment(owner: dict[str, Any]) -> client.V1Deployment:
    """A restricted-PSA-compliant Deployment owned by the VoiceAgent, as the operator will make."""
    ref = client.V1OwnerReference(
        api_version=f"{GROUP}/{VERSION}",
        kind="VoiceAgent",
        name=owner["metadata"]["name"],
        uid=owner["metadata"]["uid"],
        controller=True,
        block_owner_deletion=True,
    )
    labels = {"app.kubernetes.io/name": "front-desk-workers"}
    container = client.V1Container(
        name="worker",
        image="switchboard-agent:test",
        security_context=client.V1SecurityContext(
            allow_privilege_escalation=False,
            run_as_non_root=True,
            run_as_user=1000,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="front-desk-workers", owner_references=[ref]),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container]),
            ),
        ),
    )


def test_owned_deployment_runs_on_fake_nodes_and_is_garbage_collected(kube: Kube) -> None:
    agent = kube.create(AGENT)
    apps = client.AppsV1Api(kube.api)
    apps.create_namespaced_deployment(kube.namespace, _worker_deployment(agent))
    selector = "app.kubernetes.io/name=front-desk-workers"

    def running_pods() -> list[str]:
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items
        return [p.metadata.name for p in pods if p.status.phase == "Running"]

    wait_for(lambda: len(running_pods()) == 2, "2 Running worker pods on the kwok node")

    kube.delete("VoiceAgent", "front-desk")

    def all_gone() -> bool:
        deployments = apps.list_namespaced_deployment(kube.namespace).items
        replicasets = apps.list_namespaced_replica_set(kube.namespace).items
        pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items
        return not deployments and not replicasets and not pods

    wait_for(all_gone, "the garbage collector to remove the workers", timeout=180)
