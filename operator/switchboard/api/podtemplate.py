"""spec.podTemplate: the allow-listed part of a worker pod a VoiceAgent's author may set."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from typing import Annotated, Any, Self

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from switchboard_contract import env as contract_env

from switchboard.api import GROUP
from switchboard.api.common import Model, ObjectName, Quantity, ResourceName
from switchboard.names import (
    CONFIG_VOLUME,
    POD_DELETION_COST,
    TMP_DIR,
    TMP_VOLUME,
    WORKER_CONTAINER,
    labels,
)

# An environment variable name as a Pod takes it (C identifiers, dots and dashes).
EnvName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
]
# A Kubernetes type taken as it is (affinity, a toleration, a volume source): the API server
# validates it when the Deployment is written, so it is not re-declared here.
KubeObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]

# What the operator sets in every worker pod, so a podTemplate may not set it.
RESERVED_ENV = frozenset(
    {
        contract_env.ENV_LIVEKIT_URL,
        contract_env.ENV_LIVEKIT_API_KEY,
        contract_env.ENV_LIVEKIT_API_SECRET,
    }
)
# Every other name in the operator/worker contract, the caller-hash key included: the
# operator hands each namespace its own (config.pii_hash_key).
CONTRACT_ENV_PREFIX = "SWITCHBOARD_"
RESERVED_VOLUMES = frozenset({CONFIG_VOLUME, TMP_VOLUME})
RESERVED_LABELS = frozenset(labels("x", "x", version="x"))  # the app.kubernetes.io keys
# Legacy per-pod security annotations the kubelet still honours ("unconfined" would undo
# the RuntimeDefault profiles the operator sets).
SECURITY_ANNOTATION_PREFIXES = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
)
# The volume types Pod Security "restricted" admits: no hostPath, no node-level mounts.
VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# ... and of a projected volume's sources: no serviceAccountToken (workers get no API token).
PROJECTED_SOURCES = ("clusterTrustBundle", "configMap", "downwardAPI", "secret")


def reserved_env(name: str) -> bool:
    if name in RESERVED_ENV:
        return True
    return name.startswith(CONTRACT_ENV_PREFIX)


def _ours(key: str) -> bool:
    """A key in the operator's domain (switchboard.dev/... or a subdomain of it)."""
    prefix, slash, _ = key.partition("/")
    return bool(slash) and (prefix == GROUP or prefix.endswith(f".{GROUP}"))


def reserved_label(key: str) -> bool:
    return _ours(key) or key in RESERVED_LABELS


def reserved_annotation(key: str) -> bool:
    return _ours(key) or key == POD_DELETION_COST or key.startswith(SECURITY_ANNOTATION_PREFIXES)


def reserved_mount_path(path: str) -> bool:
    """The operator's mounts: the config directory (and anything in it) and the tmp dir."""
    normal = PurePosixPath(posixpath.normpath(path))
    return normal.is_relative_to(contract_env.CONFIG_MOUNT_DIR) or normal == PurePosixPath(TMP_DIR)


def _reserved(what: str) -> ValueError:
    return ValueError(f"{what!r} is reserved for the operator")


MountPath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
# A field not declared in a podTemplate model is refused, not ignored as elsewhere in the
# API. The CRD keeps such fields (x-kubernetes-preserve-unknown-fields) instead of pruning
# them, so the operator sees a hostNetwork or a hostPath and reports it as InvalidSpec naming
# the field, rather than the API server dropping it without a word to the author.
_ALLOWED_ONLY = ConfigDict(
    extra="forbid", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
)


class Allowed(Model):
    """Base of the podTemplate models: only the declared fields are allowed."""

    model_config = _ALLOWED_ONLY


class EnvVar(Allowed):
    """An environment variable of the worker container."""

    name: EnvName = Field(description="Variable name.")
    value: str | None = Field(default=None, description="A literal value.")
    value_from: KubeObject | None = Field(
        default=None, description="Or where to read it (secretKeyRef, configMapKeyRef, ...)."
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if reserved_env(name):
            raise _reserved(name)
        return name

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.value is not None and self.value_from is not None:
            raise ValueError("set value or valueFrom, not both")
        return self


class VolumeMount(Allowed):
    """Where a podTemplate volume is mounted in the worker container."""

    name: ObjectName = Field(description="A volume of podTemplate.spec.volumes.")
    mount_path: MountPath = Field(description="Path in the container.")
    read_only: bool | None = Field(default=None, description="Mount read-only.")
    sub_path: str | None = Field(default=None, description="Mount only this path of the volume.")
    sub_path_expr: str | None = Field(default=None, description="subPath with $(VAR) expansion.")

    @field_validator("name")
    @classmethod
    def _name_not_reserved(cls, name: str) -> str:
        if name in RESERVED_VOLUMES:
            raise _reserved(name)
        return name

    @field_validator("mount_path")
    @classmethod
    def _path_not_reserved(cls, path: str) -> str:
        if reserved_mount_path(path):
            raise _reserved(path)
        return path


class ResourceRequirements(Model):
    """Compute resources of a worker container (as in a Pod spec)."""

    # a bad quantity would otherwise reach the Deployment apply and fail it on every pass
    requests: dict[ResourceName, Quantity] = Field(
        default_factory=dict, max_length=16, description="Minimum resources, e.g. cpu: 500m."
    )
    limits: dict[ResourceName, Quantity] = Field(
        default_factory=dict, max_length=16, description="Maximum resources, e.g. memory: 1Gi."
    )


class ContainerResources(ResourceRequirements):
    """Compute resources of the worker container; they override spec.resources key by key."""

    model_config = _ALLOWED_ONLY  # (resource claims, say, are refused)


class WorkerContainer(Allowed):
    """Additions to the worker container; its image, ports, probes and security stay ours."""

    name: str = Field(
        description=f"Must be {WORKER_CONTAINER!r}: no other container may be added.",
        json_schema_extra={"enum": [WORKER_CONTAINER]},
    )
    env: list[EnvVar] | None = Field(
        default=None,
        description="Extra variables, after the operator's (whose names are reserved).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    volume_mounts: list[VolumeMount] | None = Field(
        default=None,
        description="Mounts of podTemplate.spec.volumes.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["mountPath"],
        },
    )
    resources: ContainerResources | None = Field(default=None, description="Compute resources.")

    @field_validator("name")
    @classmethod
    def _the_worker(cls, name: str) -> str:
        if name != WORKER_CONTAINER:
            raise ValueError(f"only the worker container {WORKER_CONTAINER!r} may be given")
        return name


class ProjectedSource(Allowed):
    """One source of a projected volume (no serviceAccountToken: workers get no API token)."""

    config_map: KubeObject | None = Field(default=None, description="ConfigMap keys.")
    secret: KubeObject | None = Field(default=None, description="Secret keys.")
    downward_api: KubeObject | None = Field(
        default=None, alias="downwardAPI", description="Pod fields."
    )
    cluster_trust_bundle: KubeObject | None = Field(
        default=None, description="A ClusterTrustBundle's certificates."
    )


class ProjectedVolume(Allowed):
    """Several sources in one directory."""

    sources: list[ProjectedSource] = Field(description="What to project.")
    default_mode: int | None = Field(default=None, description="File mode bits.")


class Volume(Allowed):
    """A volume of the worker pod: one of the types Pod Security "restricted" admits."""

    name: ObjectName = Field(description="Volume name (the operator's are reserved).")
    config_map: KubeObject | None = Field(default=None, description="A ConfigMap.")
    csi: KubeObject | None = Field(default=None, description="An inline CSI volume.")
    downward_api: KubeObject | None = Field(
        default=None, alias="downwardAPI", description="Pod fields as files."
    )
    empty_dir: KubeObject | None = Field(default=None, description="Scratch space.")
    ephemeral: KubeObject | None = Field(default=None, description="A per-pod claim.")
    persistent_volume_claim: KubeObject | None = Field(
        default=None, description="A PersistentVolumeClaim."
    )
    projected: ProjectedVolume | None = Field(default=None, description="Projected sources.")
    secret: KubeObject | None = Field(default=None, description="A Secret.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_VOLUMES:
            raise _reserved(name)
        return name

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        wire = self.to_wire()
        if sum(1 for source in VOLUME_SOURCES if source in wire) != 1:
            raise ValueError(f"a volume needs exactly one of {', '.join(VOLUME_SOURCES)}")
        return self


class WorkerPodSpec(Allowed):
    """Scheduling, the worker container's additions and volumes (nothing else of a pod spec)."""

    node_selector: dict[str, str] | None = Field(default=None, description="Node labels.")
    affinity: KubeObject | None = Field(default=None, description="Node and pod affinity.")
    tolerations: list[KubeObject] | None = Field(default=None, description="Taints tolerated.")
    topology_spread_constraints: list[KubeObject] | None = Field(
        default=None, description="How workers spread over zones and nodes."
    )
    priority_class_name: str | None = Field(default=None, description="A PriorityClass.")
    containers: list[WorkerContainer] | None = Field(
        default=None,
        max_length=1,
        description=f"At most one entry, named {WORKER_CONTAINER!r}: additions to the worker.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    volumes: list[Volume] | None = Field(
        default=None,
        description="Extra volumes, mounted with containers[0].volumeMounts.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _mounts_name_volumes(self) -> Self:
        known = {v.name for v in self.volumes or []}
        for i, container in enumerate(self.containers or []):
            for j, mount in enumerate(container.volume_mounts or []):
                if mount.name not in known:
                    where = f"containers[{i}].volumeMounts[{j}].name"
                    raise ValueError(f"{where}: no volume {mount.name!r} in volumes")
        return self


class PodTemplateMetadata(Allowed):
    """Labels and annotations of the worker pods (the operator's keys are reserved)."""

    labels: dict[str, str] | None = Field(default=None, description="Extra labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Extra annotations.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, found: dict[str, str] | None) -> dict[str, str] | None:
        for key in found or {}:
            if reserved_label(key):
                raise _reserved(key)
        return found

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, found: dict[str, str] | None) -> dict[str, str] | None:
        for key in found or {}:
            if reserved_annotation(key):
                raise _reserved(key)
        return found


class PodTemplate(Allowed):
    """What the worker pods may be given beyond what the operator renders.

    Scheduling, the worker container's resources, env and volume mounts, extra volumes,
    labels and annotations. Anything else (host namespaces, a service account, security
    contexts, other containers, hostPath volumes, the operator's names) is refused: the
    VoiceAgent is Ready=False InvalidSpec, naming the field.
    """

    metadata: PodTemplateMetadata | None = Field(default=None, description="Labels, annotations.")
    spec: WorkerPodSpec | None = Field(default=None, description="The allowed pod spec fields.")
