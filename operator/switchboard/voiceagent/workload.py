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
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.names import (
    CONFIG_HASH_ANNOTATION,
    VOICEAGENT_ANNOTATION,
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


def _merge(base: Manifest, override: Manifest) -> Manifest:
    """Deep-merge dicts; lists and scalars in `override` replace (documented podTemplate rule)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
        "name": "agent",
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
            {"name": "config", "mountPath": str(contract_env.CONFIG_MOUNT_DIR), "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
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
                {"name": "config", "configMap": {"name": worker_config_name(voiceagent)}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }
    if spec.pod_template:
        template = _merge(template, spec.pod_template)
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
