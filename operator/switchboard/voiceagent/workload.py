"""The worker fleet's Kubernetes objects: ConfigMap, Secret, Deployment, PodDisruptionBudget (pure).

A Deployment (not operator-managed pods) because it gives rolling updates, history and
`kubectl rollout` for free; the two things it lacks are supplied here: the scaler sets
pod-deletion-cost so scale-down removes idle pods first, and each worker drains on
SIGTERM with terminationGracePeriodSeconds >= maxCallDuration, so neither a scale-down
nor a rollout cuts a call.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from switchboard_contract import AgentConfig, Stage, secret_env
from switchboard_contract import env as contract_env
from switchboard_contract import report as contract_report

from switchboard.api.common import SecretKeyRef
from switchboard.api.podtemplate import (
    PROJECTED_SOURCES,
    RESERVED_VOLUMES,
    VOLUME_SOURCES,
    PodTemplate,
    reserved_annotation,
    reserved_env,
    reserved_label,
    reserved_mount_path,
)
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.names import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_VOLUME,
    TMP_DIR,
    TMP_VOLUME,
    VOICEAGENT_ANNOTATION,
    WORKER_CONTAINER,
    labels,
    worker_config_name,
    worker_name,
    worker_secret_name,
    worker_selector,
)
from switchboard.voiceagent.builders import DRAIN_MARGIN_S, max_call_seconds

Manifest = dict[str, Any]

DEFAULT_RESOURCES: Manifest = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "1Gi"},
}
NON_ROOT_UID = 65532


def _meta(namespace: str, voiceagent: str, name: str, version: str | None = None) -> Manifest:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {
            **labels("agent-worker", voiceagent, version=version),
            **worker_selector(voiceagent),
        },
    }


def config_map(namespace: str, voiceagent: str, config: AgentConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(namespace, voiceagent, worker_config_name(voiceagent)),
        "data": {contract_env.CONFIG_FILE_NAME: config.model_dump_json(indent=2)},
    }


def worker_secret(
    namespace: str,
    voiceagent: str,
    url: str,
    api_key: str,
    api_secret: str,
    report_token: str,
    pii_hash_key: str | None = None,
) -> Manifest:
    """The workers' credentials: LiveKit, the report token and the caller-hash key."""
    data = {
        contract_env.ENV_LIVEKIT_URL: url,
        contract_env.ENV_LIVEKIT_API_KEY: api_key,
        contract_env.ENV_LIVEKIT_API_SECRET: api_secret,
        contract_report.ENV_REPORT_TOKEN: report_token,
    }
    if pii_hash_key:
        data[contract_env.ENV_PII_HASH_KEY] = pii_hash_key
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(namespace, voiceagent, worker_secret_name(voiceagent)),
        "stringData": data,
    }


def content_hash(*manifests: Manifest) -> str:
    """Changes when rendered config or credentials change, so the pods roll."""
    blob = json.dumps([m.get("data") or m.get("stringData") for m in manifests], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _key_refs(spec: VoiceAgentSpec) -> dict[Stage, SecretKeyRef]:
    refs: dict[Stage, SecretKeyRef | None] = {}
    if spec.pipeline:
        refs = {
            Stage.STT: spec.pipeline.stt.api_key_secret_ref,
            Stage.LLM: spec.pipeline.llm.api_key_secret_ref,
            Stage.TTS: spec.pipeline.tts.api_key_secret_ref,
        }
    if spec.realtime:
        refs[Stage.REALTIME] = spec.realtime.api_key_secret_ref
    return {stage: ref for stage, ref in refs.items() if ref is not None}


def _env(spec: VoiceAgentSpec, report_url: str) -> list[Manifest]:
    env: list[Manifest] = [
        {"name": contract_env.ENV_AGENT_CONFIG, "value": str(contract_env.CONFIG_PATH)},
        {"name": contract_report.ENV_REPORT_URL, "value": report_url},
        {
            "name": contract_report.ENV_POD_NAME,
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
        },
    ]
    for stage, ref in sorted(_key_refs(spec).items()):
        env.append(
            {
                "name": secret_env(stage),
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


# Scheduling fields a podTemplate sets as they are (the API model admits nothing else there
# besides the worker container's additions and volumes).
SCHEDULING_FIELDS = (
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "priorityClassName",
)
MERGED_POD_FIELDS = (*SCHEDULING_FIELDS, "containers", "volumes")
MERGED_CONTAINER_FIELDS = ("env", "volumeMounts", "resources")


def _by_key(ours: list[Manifest], theirs: list[Manifest], key: str = "name") -> list[Manifest]:
    """Ours, then each of theirs whose `key` none of ours has: ours always win."""
    taken = {item[key] for item in ours}
    return [*copy.deepcopy(ours), *(copy.deepcopy(t) for t in theirs if t.get(key) not in taken)]


def _reapply(merged: Manifest, ours: Manifest, merged_fields: tuple[str, ...]) -> Manifest:
    """`merged` keeping only the fields `ours` has or a podTemplate may merge, with every
    field of `ours` that is not merged set back to ours."""
    kept = {k: v for k, v in merged.items() if k in ours or k in merged_fields}
    kept.update({k: copy.deepcopy(v) for k, v in ours.items() if k not in merged_fields})
    return kept


def _allowed_volume(volume: Manifest) -> bool:
    if not volume.keys() <= {"name", *VOLUME_SOURCES} or volume.get("name") in RESERVED_VOLUMES:
        return False
    sources = (volume.get("projected") or {}).get("sources") or []
    return all(source.keys() <= set(PROJECTED_SOURCES) for source in sources)


def harden(merged: Manifest, ours: Manifest) -> Manifest:
    """Re-apply the operator's pod template `ours` over a merged one, whatever the merge did.

    The API model already refuses all of it in a podTemplate; doing it last keeps a bug in
    the merge from ever letting any through. Ours win for every field ours sets (the pod and
    container security contexts, image, args, ports, probes, envFrom, the service account
    token, the grace period) and a field neither ours nor the allow-list has is dropped
    (hostNetwork/hostPID/hostIPC, serviceAccountName, command, other containers, ...). Of
    the labels, annotations, env, mounts and volumes only ours have reserved keys, only
    volume types Pod Security "restricted" admits are kept, and only mounts of those.
    """
    meta = merged.get("metadata", {})
    labels = {k: v for k, v in meta.get("labels", {}).items() if not reserved_label(k)}
    notes = {k: v for k, v in meta.get("annotations", {}).items() if not reserved_annotation(k)}
    out: Manifest = {
        "metadata": {
            "labels": {**labels, **ours["metadata"]["labels"]},
            "annotations": {**notes, **ours["metadata"]["annotations"]},
        }
    }
    pod = _reapply(merged.get("spec", {}), ours["spec"], MERGED_POD_FIELDS)
    (our_worker,) = ours["spec"]["containers"]
    found = [c for c in pod.get("containers", []) if c.get("name") == WORKER_CONTAINER]
    worker = _reapply(found[0] if found else {}, our_worker, MERGED_CONTAINER_FIELDS)
    env = [e for e in worker.get("env", []) if not reserved_env(e.get("name", ""))]
    worker["env"] = _by_key(our_worker["env"], env)
    volumes = [v for v in pod.get("volumes", []) if _allowed_volume(v)]
    pod["volumes"] = _by_key(ours["spec"]["volumes"], volumes)
    theirs = {v["name"] for v in volumes}
    mounts = [
        m
        for m in worker.get("volumeMounts", [])
        if m.get("name") in theirs and not reserved_mount_path(m.get("mountPath", "/"))
    ]
    worker["volumeMounts"] = _by_key(our_worker["volumeMounts"], mounts, "mountPath")
    worker.setdefault("resources", copy.deepcopy(our_worker["resources"]))
    pod["containers"] = [worker]
    out["spec"] = pod
    return copy.deepcopy(out)


def merge_pod_template(ours: Manifest, pod_template: PodTemplate | None) -> Manifest:
    """The operator's pod template plus what the (validated) spec.podTemplate allows:
    labels and annotations, scheduling, the worker's resources, env and mounts (after the
    operator's), and volumes. Then `harden` puts every field of the operator's back."""
    out = copy.deepcopy(ours)
    if pod_template is None:
        return out
    wire = pod_template.to_wire()
    meta, pod = wire.get("metadata", {}), wire.get("spec", {})
    for part in ("labels", "annotations"):
        out["metadata"][part] = {**meta.get(part, {}), **out["metadata"][part]}
    for name in SCHEDULING_FIELDS:
        if name in pod:
            out["spec"][name] = pod[name]
    out["spec"]["volumes"] = _by_key(out["spec"]["volumes"], pod.get("volumes", []))
    (worker,) = out["spec"]["containers"]
    for extra in pod.get("containers", []):  # the model admits the worker's entry only
        worker["env"] = _by_key(worker["env"], extra.get("env", []))
        worker["volumeMounts"] = _by_key(
            worker["volumeMounts"], extra.get("volumeMounts", []), "mountPath"
        )
        for kind, amounts in extra.get("resources", {}).items():
            worker["resources"][kind] = {**worker["resources"].get(kind, {}), **amounts}
    return harden(out, ours)


def deployment(
    namespace: str,
    voiceagent: str,
    spec: VoiceAgentSpec,
    *,
    image: str,
    replicas: int,
    config_hash: str,
    report_url: str,
) -> Manifest:
    selector = worker_selector(voiceagent)
    version = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else None
    meta = _meta(namespace, voiceagent, worker_name(voiceagent), version)
    meta["annotations"] = {VOICEAGENT_ANNOTATION: voiceagent}
    resources = spec.resources.to_wire() if spec.resources else DEFAULT_RESOURCES
    container: Manifest = {
        "name": WORKER_CONTAINER,
        "image": spec.image or image,
        "args": ["start"],
        "ports": [
            {"name": "http", "containerPort": contract_env.HTTP_PORT},
            {"name": "metrics", "containerPort": contract_env.PROMETHEUS_PORT},
        ],
        "env": _env(spec, report_url),
        "envFrom": [{"secretRef": {"name": worker_secret_name(voiceagent)}}],
        "resources": resources,
        "readinessProbe": {
            "httpGet": {"path": contract_env.HEALTH_PATH, "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": contract_env.HEALTH_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [
            {
                "name": CONFIG_VOLUME,
                "mountPath": str(contract_env.CONFIG_MOUNT_DIR),
                "readOnly": True,
            },
            {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        ],
    }
    template: Manifest = {
        "metadata": {
            "labels": dict(meta["labels"]),
            "annotations": {CONFIG_HASH_ANNOTATION: config_hash, VOICEAGENT_ANNOTATION: voiceagent},
        },
        "spec": {
            # The worker talks to LiveKit and the operator, never to the Kubernetes API.
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": max_call_seconds(spec) + DRAIN_MARGIN_S,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": NON_ROOT_UID,
                "runAsGroup": NON_ROOT_UID,
                "fsGroup": NON_ROOT_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [
                {"name": CONFIG_VOLUME, "configMap": {"name": worker_config_name(voiceagent)}},
                {"name": TMP_VOLUME, "emptyDir": {}},
            ],
        },
    }
    template = merge_pod_template(template, spec.pod_template)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            # Surge new pods before old ones drain: capacity never dips during a rollout.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "template": template,
        },
    }


def pod_disruption_budget(namespace: str, voiceagent: str) -> Manifest:
    """Evict one worker at a time; an evicted worker drains its call before exiting."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(namespace, voiceagent, worker_name(voiceagent)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": worker_selector(voiceagent)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
