"""Golden tests for spec.podTemplate: the allow-list, what it merges, and what stays ours."""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest
from pydantic import ValidationError
from switchboard.api.podtemplate import (
    PROJECTED_SOURCES,
    VOLUME_SOURCES,
    ProjectedSource,
    Volume,
)
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.names import POD_DELETION_COST
from switchboard.reasons import INVALID_SPEC, invalid_spec, kopf_error
from switchboard.voiceagent.workload import deployment, harden, worker_secret
from switchboard_contract import Stage, secret_env

from tests.support.manifests import example_objects

pytestmark = pytest.mark.unit

Manifest = dict[str, Any]
SPEC = VoiceAgentSpec.model_validate(
    next(o for f, o in example_objects("VoiceAgent") if f == "voiceagent-local.yaml")["spec"]
)
CLOUD = VoiceAgentSpec.model_validate(
    next(o for f, o in example_objects("VoiceAgent") if "sales" in f)["spec"]
)


def render(spec: VoiceAgentSpec) -> Manifest:
    """The worker pod template the operator writes for `spec`."""
    dep = deployment(
        "tel",
        "front-desk",
        spec,
        image="ghcr.io/x/agent:1.2",
        replicas=1,
        config_hash="h",
        report_url="http://op:8090/v1/reports",
    )
    return dep["spec"]["template"]  # type: ignore[no-any-return]


PLAIN = render(SPEC)


def with_pod_template(pod_template: Manifest, base: VoiceAgentSpec = SPEC) -> Manifest:
    wire = base.to_wire()
    wire["podTemplate"] = pod_template
    return wire


def refusal(pod_template: Manifest) -> str:
    """The InvalidSpec message for a spec with `pod_template` (the test fails if accepted)."""
    with pytest.raises(ValidationError) as err:
        VoiceAgentSpec.model_validate(with_pod_template(pod_template))
    why = invalid_spec(err.value)
    assert why.reason == INVALID_SPEC and why.retry_s is None  # fixed by editing the spec only
    assert isinstance(kopf_error(why), kopf.PermanentError)  # the handler stops, no retry loop
    return why.message


def agent(**fields: Any) -> Manifest:
    """A podTemplate whose only container entry is the worker's, with `fields`."""
    return {"spec": {"containers": [{"name": "agent", **fields}]}}


def env(name: str) -> Manifest:
    return agent(env=[{"name": name, "value": "x"}])


def mount(path: str, volume: str = "data") -> Manifest:
    return {
        "spec": {
            "containers": [
                {"name": "agent", "volumeMounts": [{"name": volume, "mountPath": path}]}
            ],
            "volumes": [{"name": volume, "emptyDir": {}}],
        }
    }


P = "spec.podTemplate"
RESERVED = "is reserved for the operator"
# (id, podTemplate, the InvalidSpec message). Before the allow-list every one of them was
# accepted (pytest: DID NOT RAISE) and merged into the worker pods as written.
HOSTILE: list[tuple[str, Manifest, str]] = [
    ("host-network", {"spec": {"hostNetwork": True}}, f"{P}.spec.hostNetwork: not allowed"),
    ("host-pid", {"spec": {"hostPID": True}}, f"{P}.spec.hostPID: not allowed"),
    ("host-ipc", {"spec": {"hostIPC": True}}, f"{P}.spec.hostIPC: not allowed"),
    (
        "run-as-root",
        {"spec": {"securityContext": {"runAsUser": 0, "runAsNonRoot": False}}},
        f"{P}.spec.securityContext: not allowed",
    ),
    (
        "privileged",
        agent(securityContext={"privileged": True}),
        f"{P}.spec.containers[0].securityContext: not allowed",
    ),
    (
        "operator-service-account",  # namespace mode: the operator's own RBAC
        {"spec": {"serviceAccountName": "switchboard-operator"}},
        f"{P}.spec.serviceAccountName: not allowed",
    ),
    (
        "deprecated-service-account",
        {"spec": {"serviceAccount": "switchboard-operator"}},
        f"{P}.spec.serviceAccount: not allowed",
    ),
    (
        "api-token",
        {"spec": {"automountServiceAccountToken": True}},
        f"{P}.spec.automountServiceAccountToken: not allowed",
    ),
    (
        "host-path-root",
        {"spec": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}},
        f"{P}.spec.volumes[0].hostPath: not allowed",
    ),
    (
        "projected-api-token",
        {
            "spec": {
                "volumes": [
                    {
                        "name": "t",
                        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                    }
                ]
            }
        },
        f"{P}.spec.volumes[0].projected.sources[0].serviceAccountToken: not allowed",
    ),
    (
        "containers-replace-the-worker",
        {"spec": {"containers": [{"name": "agent", "image": "evil", "command": ["sh"]}]}},
        f"{P}.spec.containers[0].image: not allowed; {P}.spec.containers[0].command: not allowed",
    ),
    (
        "probes-and-ports",
        agent(readinessProbe={"exec": {"command": ["true"]}}, ports=[{"containerPort": 22}]),
        f"{P}.spec.containers[0].readinessProbe: not allowed; "
        f"{P}.spec.containers[0].ports: not allowed",
    ),
    (
        "env-from-overrides-credentials",  # a later envFrom wins over the operator's Secret
        agent(envFrom=[{"configMapRef": {"name": "mine"}}]),
        f"{P}.spec.containers[0].envFrom: not allowed",
    ),
    (
        "sidecar",
        {"spec": {"containers": [{"name": "sidecar"}]}},
        f"{P}.spec.containers[0].name: Value error, only the worker container 'agent' may be given",
    ),
    (
        "init-container",
        {"spec": {"initContainers": [{"name": "i", "image": "x"}]}},
        f"{P}.spec.initContainers: not allowed",
    ),
    ("node-name", {"spec": {"nodeName": "control-plane"}}, f"{P}.spec.nodeName: not allowed"),
    ("pod-name", {"metadata": {"name": "x"}}, f"{P}.metadata.name: not allowed"),
    (
        "resource-claims",
        agent(resources={"claims": [{"name": "gpu"}]}),
        f"{P}.spec.containers[0].resources.claims: not allowed",
    ),
    (
        "livekit-url",  # the worker would send its LiveKit token elsewhere
        env("LIVEKIT_URL"),
        f"{P}.spec.containers[0].env[0].name: Value error, 'LIVEKIT_URL' {RESERVED}",
    ),
    (
        "health-port",  # a contract name the operator does not set, still not the author's
        env("SWITCHBOARD_HTTP_PORT"),
        f"{P}.spec.containers[0].env[0].name: Value error, 'SWITCHBOARD_HTTP_PORT' {RESERVED}",
    ),
    (
        "caller-hash-key",  # the operator's per-namespace key; one chosen here could be shared
        env("SWITCHBOARD_PII_HASH_KEY"),
        f"{P}.spec.containers[0].env[0].name: Value error, 'SWITCHBOARD_PII_HASH_KEY' {RESERVED}",
    ),
    (
        "config-file-shadowed",
        mount("/etc/switchboard/agent-config.json"),
        f"{P}.spec.containers[0].volumeMounts[0].mountPath: Value error, "
        f"'/etc/switchboard/agent-config.json' {RESERVED}",
    ),
    (
        "mount-without-volume",
        agent(volumeMounts=[{"name": "nowhere", "mountPath": "/data"}]),
        f"{P}.spec: Value error, "
        "containers[0].volumeMounts[0].name: no volume 'nowhere' in volumes",
    ),
    (
        "volume-without-source",
        {"spec": {"volumes": [{"name": "data"}]}},
        f"{P}.spec.volumes[0]: Value error, a volume needs exactly one of configMap, csi, "
        "downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret",
    ),
    (
        "into-another-fleet",  # the other fleet's scaler would count (and remove) this pod
        {"metadata": {"labels": {"switchboard.dev/voiceagent": "billing"}}},
        f"{P}.metadata.labels: Value error, 'switchboard.dev/voiceagent' {RESERVED}",
    ),
    (
        "into-another-fleet-by-annotation",
        {"metadata": {"annotations": {"switchboard.dev/voiceagent": "billing"}}},
        f"{P}.metadata.annotations: Value error, 'switchboard.dev/voiceagent' {RESERVED}",
    ),
    (
        "survive-scale-down",
        {"metadata": {"annotations": {POD_DELETION_COST: "2147483647"}}},
        f"{P}.metadata.annotations: Value error, '{POD_DELETION_COST}' {RESERVED}",
    ),
    (
        "apparmor-unconfined",
        {
            "metadata": {
                "annotations": {
                    "container.apparmor.security.beta.kubernetes.io/agent": "unconfined"
                }
            }
        },
        f"{P}.metadata.annotations: Value error, "
        f"'container.apparmor.security.beta.kubernetes.io/agent' {RESERVED}",
    ),
]


@pytest.mark.parametrize(
    ("pod_template", "message"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_pod_template_is_invalid_spec_naming_the_field(
    pod_template: Manifest, message: str
) -> None:
    assert refusal(pod_template) == message


def _keys_the_operator_sets() -> list[tuple[str, Manifest]]:
    cloud = render(CLOUD)
    (worker,) = cloud["spec"]["containers"]
    secret = worker_secret("tel", "front-desk", "ws://lk", "k", "s", "t")
    env_names = sorted(
        {e["name"] for e in worker["env"]}
        | set(secret["stringData"])
        | {secret_env(stage) for stage in Stage}  # the stages CLOUD has no key for, too
    )
    return [
        *((f"label {k}", {"metadata": {"labels": {k: "x"}}}) for k in PLAIN["metadata"]["labels"]),
        *(
            (f"annotation {k}", {"metadata": {"annotations": {k: "x"}}})
            for k in [*PLAIN["metadata"]["annotations"], POD_DELETION_COST]
        ),
        *((f"env {name}", env(name)) for name in env_names),
        *((f"volume {v['name']}", mount("/data", v["name"])) for v in cloud["spec"]["volumes"]),
        *((f"mount {m['mountPath']}", mount(m["mountPath"])) for m in worker["volumeMounts"]),
    ]


OPERATOR_KEYS = _keys_the_operator_sets()


@pytest.mark.parametrize(
    ("what", "pod_template"), OPERATOR_KEYS, ids=[what for what, _ in OPERATOR_KEYS]
)
def test_every_key_the_operator_sets_is_reserved(what: str, pod_template: Manifest) -> None:
    """Refused rather than stripped: a reserved key in a podTemplate is a mistake or an
    attempt to reach another fleet, and a silently dropped field hides both from the author
    (and from whoever reviews the VoiceAgent). Derived from what the builders render, so a
    label, env var or volume added later is reserved too. Before: accepted (DID NOT RAISE)."""
    assert RESERVED in refusal(pod_template), what


ALLOWED: Manifest = {
    "metadata": {"labels": {"team": "voice"}, "annotations": {"example.com/owner": "voice"}},
    "spec": {
        "nodeSelector": {"pool": "voice"},
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "tolerations": [{"key": "voice", "operator": "Exists", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        "priorityClassName": "calls",
        "containers": [
            {
                "name": "agent",
                "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}},
                "env": [
                    {
                        "name": "OTEL_RESOURCE_ATTRIBUTES",
                        "valueFrom": {"secretKeyRef": {"name": "otel", "key": "k"}},
                    },
                    {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                ],
                "volumeMounts": [
                    {"name": "certs", "mountPath": "/etc/ssl/extra", "readOnly": True},
                    {"name": "cache", "mountPath": "/tmp/models"},
                ],
            }
        ],
        "volumes": [
            {"name": "certs", "secret": {"secretName": "ca"}},
            {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    },
}


def test_an_allowed_pod_template_is_merged_and_leaves_everything_of_ours_as_it_was() -> None:
    """Before: merged != expected, its `containers` list replaced the worker container
    whole (no image, probes, security context or operator env left; the API server refuses
    that Deployment: containers[0].image: Required value), and its volumes replaced ours."""
    merged = render(VoiceAgentSpec.model_validate(with_pod_template(ALLOWED)))
    expected = copy.deepcopy(PLAIN)
    expected["metadata"]["labels"]["team"] = "voice"
    expected["metadata"]["annotations"]["example.com/owner"] = "voice"
    pod, extra = expected["spec"], ALLOWED["spec"]
    for name in ("nodeSelector", "affinity", "tolerations", "topologySpreadConstraints"):
        pod[name] = extra[name]
    pod["priorityClassName"] = "calls"
    pod["volumes"] += extra["volumes"]
    (worker,) = pod["containers"]
    (extra_worker,) = extra["containers"]
    worker["env"] += extra_worker["env"]  # after ours, so they may use $(OURS)
    worker["volumeMounts"] += extra_worker["volumeMounts"]
    # key by key over spec.resources (here the defaults): limits.memory and requests.cpu win
    worker["resources"] = {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
    assert merged == expected
    assert merged["spec"]["containers"][0]["image"] == "ghcr.io/x/agent:1.2"


def test_harden_puts_back_whatever_a_merge_could_override() -> None:
    """The backstop behind the allow-list: even a template no VoiceAgentSpec would admit
    comes out as ours plus the allowed additions. (New; before, the plain merge applied
    every field below as written.)"""
    hostile = copy.deepcopy(PLAIN)
    pod = hostile["spec"]
    pod.update(
        hostNetwork=True, hostPID=True, hostIPC=True, serviceAccountName="switchboard-operator"
    )
    pod.update(serviceAccount="switchboard-operator", automountServiceAccountToken=True)
    pod["securityContext"] = {"runAsUser": 0}
    pod["terminationGracePeriodSeconds"] = 1
    pod["initContainers"] = [{"name": "i", "image": "evil"}]
    (worker,) = pod["containers"]
    worker.update(image="evil", command=["sh"], ports=[], securityContext={"privileged": True})
    worker["readinessProbe"] = {"exec": {"command": ["true"]}}
    worker["envFrom"] = [{"configMapRef": {"name": "mine"}}]
    worker["env"] = [{"name": "LIVEKIT_URL", "value": "wss://elsewhere"}, *worker["env"]]
    worker["env"][1] = {"name": worker["env"][1]["name"], "value": "/elsewhere"}
    worker["volumeMounts"].append({"name": "root", "mountPath": "/host"})
    worker["volumeMounts"].append({"name": "x", "mountPath": "/etc/switchboard/agent-config.json"})
    pod["containers"].append({"name": "sidecar", "image": "evil"})
    token = {"serviceAccountToken": {"path": "token"}}
    pod["volumes"] = [
        {"name": "config", "hostPath": {"path": "/"}},
        {"name": "root", "hostPath": {"path": "/"}},
        {"name": "token", "projected": {"sources": [token]}},
    ]
    worker["volumeMounts"].append({"name": "token", "mountPath": "/var/run/token"})
    hostile["metadata"]["labels"]["switchboard.dev/voiceagent"] = "billing"
    hostile["metadata"]["annotations"][POD_DELETION_COST] = "2147483647"
    assert harden(hostile, PLAIN) == PLAIN
    assert harden(PLAIN, PLAIN) == PLAIN


def test_the_model_and_the_backstop_allow_the_same_volume_types() -> None:
    """harden() keeps the volume types the model declares, no more (a guard for the guard)."""
    assert {f.alias for f in Volume.model_fields.values()} - {"name"} == set(VOLUME_SOURCES)
    assert {f.alias for f in ProjectedSource.model_fields.values()} == set(PROJECTED_SOURCES)
