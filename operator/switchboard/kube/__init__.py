"""Direct Kubernetes API access beyond kopf, one module per concern; re-exported here so
call sites read `kube.apply(...)`, `kube.secret_keys(...)`."""

from __future__ import annotations

from switchboard.kube.nudges import annotation_map, json_compact, nudge, short_version
from switchboard.kube.refs import (
    MissingConfigMapError,
    MissingSecretError,
    read_config_map_key,
    read_secret,
    secret_keys,
)
from switchboard.kube.session import API_ERRORS, FIELD_MANAGER, load_config, utcnow
from switchboard.kube.writes import (
    NotOwnedError,
    annotate_pod,
    apply,
    apply_owned,
    deployment_replicas,
    patch_status,
    post_event,
    put_secret_key,
    scale_deployment,
)

__all__ = [
    "API_ERRORS",
    "FIELD_MANAGER",
    "MissingConfigMapError",
    "MissingSecretError",
    "NotOwnedError",
    "annotate_pod",
    "annotation_map",
    "apply",
    "apply_owned",
    "deployment_replicas",
    "json_compact",
    "load_config",
    "nudge",
    "patch_status",
    "post_event",
    "put_secret_key",
    "read_config_map_key",
    "read_secret",
    "scale_deployment",
    "secret_keys",
    "short_version",
    "utcnow",
]
