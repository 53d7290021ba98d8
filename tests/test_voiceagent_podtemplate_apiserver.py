"""spec.podTemplate against the real kube-apiserver: what admission says, what it keeps."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from pydantic import ValidationError
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.reasons import field_errors
from switchboard.voiceagent.workload import deployment

from tests.support.kube import GROUP, VERSION, Kube, mutate, rejection, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

AGENT: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "VoiceAgent",
    "metadata": {"name": "front-desk"},
    "spec": {
        "pipeline": {
            "stt": {"provider": "pocketsphinx"},
            "llm": {"provider": "scripted", "script": {"fallback": "Sorry?"}},
            "tts": {"provider": "flite"},
        },
        "telephony": {"trunks": ["local-carrier"]},
    },
}


def worker(**fields: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "agent", **fields}]}}


# What the podTemplate schema can say at admission already (the rest is InvalidSpec).
# Before: both admitted (DID NOT RAISE ApiException).
@pytest.mark.parametrize(
    ("pod_template", "field", "fragment"),
    [
        (
            {"spec": {"containers": [{"name": "sidecar"}]}},
            "spec.podTemplate.spec.containers[0].name",
            "Unsupported value",
        ),
        (
            worker(env=[{"name": "A", "value": "1"}, {"name": "A"}]),
            "spec.podTemplate.spec.containers[0].env[1]",
            "Duplicate value",
        ),
    ],
    ids=["sidecar", "env-duplicate"],
)
def test_admission_refuses_what_the_schema_can_say(
    kube: Kube, pod_template: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ApiException) as caught:
        kube.create(mutate(AGENT, {"spec.podTemplate": pod_template}), dry_run=True)
    message = rejection(caught.value)
    assert caught.value.status == 422, message
    assert field in message and fragment in message, message


def test_a_refused_pod_template_field_is_stored_for_the_operator_to_name(kube: Kube) -> None:
    """The CRD keeps fields outside the podTemplate allow-list (preserve-unknown-fields)
    rather than pruning them, so the author learns from Ready=False InvalidSpec that a
    hostNetwork was refused instead of having it dropped silently. Before: the model took
    the stored spec as it was (DID NOT RAISE ValidationError)."""
    hostile = {
        "metadata": {"labels": {"team": "voice"}},
        "spec": {"hostNetwork": True, "volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
    }
    stored = kube.create(mutate(AGENT, {"spec.podTemplate": hostile}))["spec"]
    assert stored["podTemplate"] == hostile
    with pytest.raises(ValidationError) as err:
        VoiceAgentSpec.model_validate(stored)
    assert set(field_errors(err.value).split("; ")) == {
        "spec.podTemplate.spec.hostNetwork: not allowed",
        "spec.podTemplate.spec.volumes[0].hostPath: not allowed",
    }


def test_worker_pods_with_an_allowed_pod_template_are_admitted_as_restricted(kube: Kube) -> None:
    """The operator's Deployment with the allowed podTemplate fields passes the API server's
    validation, and its pods Pod Security "restricted" (enforced on the test namespace).
    Before: 422, spec.template.spec.containers[0].image: Required value (the podTemplate's
    containers list replaced the worker container whole)."""
    field_ref = {"fieldRef": {"fieldPath": "metadata.name"}}
    pod_template = {
        "metadata": {"labels": {"team": "voice"}, "annotations": {"example.com/owner": "voice"}},
        "spec": {
            "tolerations": [{"key": "voice", "operator": "Exists", "effect": "NoSchedule"}],
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
            ],
            "containers": [
                {
                    "name": "agent",
                    "resources": {"requests": {"cpu": "100m"}},
                    "env": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
                    "volumeMounts": [{"name": "cache", "mountPath": "/tmp/models"}],
                }
            ],
            "volumes": [
                {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "info", "downwardAPI": {"items": [{"path": "name", **field_ref}]}},
            ],
        },
    }
    spec = VoiceAgentSpec.model_validate({**AGENT["spec"], "podTemplate": pod_template})
    dep = deployment(
        kube.namespace,
        "front-desk",
        spec,
        image="switchboard-agent:test",
        replicas=1,
        config_hash="h",
        report_url="http://op:8090/v1/reports",
    )
    client.AppsV1Api(kube.api).create_namespaced_deployment(kube.namespace, dep)
    selector = "switchboard.dev/voiceagent=front-desk"

    def admitted() -> list[client.V1Pod]:
        return kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items

    (pod,) = wait_for(admitted, "the worker pod admitted under restricted")
    assert pod.metadata.labels["team"] == "voice"
    assert [v.name for v in pod.spec.volumes] == ["config", "tmp", "cache", "info"]
