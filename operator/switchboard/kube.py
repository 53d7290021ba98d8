"""The few direct Kubernetes API reads/writes the handlers need (kopf covers the rest)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from switchboard.api import GROUP, VERSION


class MissingSecretError(Exception):
    """A referenced Secret or key is absent; the message names it (never its values)."""

    def __init__(self, namespace: str, name: str, key: str | None = None) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        what = f"key {key!r} in Secret {name!r}" if key else f"Secret {name!r}"
        super().__init__(f"{what} not found in namespace {namespace!r}")


def load_config() -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig (like kopf's login)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


async def read_secret(namespace: str, name: str) -> dict[str, str]:
    """The Secret's data, decoded; one GET (cheap, and always current for rotation)."""

    def get() -> Any:
        return client.CoreV1Api().read_namespaced_secret(name, namespace)

    try:
        secret = await asyncio.to_thread(get)
    except ApiException as err:
        if err.status == 404:
            raise MissingSecretError(namespace, name) from None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


async def secret_keys(namespace: str, name: str, *keys: str) -> list[str]:
    data = await read_secret(namespace, name)
    missing = [k for k in keys if k not in data]
    if missing:
        raise MissingSecretError(namespace, name, missing[0])
    return [data[k] for k in keys]


async def patch_annotations(
    group: str, version: str, plural: str, namespace: str, name: str, annotations: dict[str, str]
) -> None:
    def patch() -> Any:
        return client.CustomObjectsApi().patch_namespaced_custom_object(
            group, version, namespace, plural, name, {"metadata": {"annotations": annotations}}
        )

    await asyncio.to_thread(patch)


def annotation_map(value: str | None) -> dict[str, str]:
    """Parse a JSON-object annotation value, tolerating garbage (users can edit annotations)."""
    try:
        data = json.loads(value) if value else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def json_compact(value: dict[str, str]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


async def nudge(
    plural: str, namespace: str, name: str, annotation: str, seen: str | None,
    source: str, version: str,
) -> bool:  # fmt: skip
    """Record `source`'s new `version` in a JSON annotation, which triggers kopf's on.update.

    Used to re-sync an object when something it depends on changes (a Secret, a SipTrunk's
    status). An unchanged version writes nothing, so restarts and relists are free.
    """
    versions = annotation_map(seen)
    if versions.get(source) == version:
        return False
    versions[source] = version
    await patch_annotations(
        GROUP, VERSION, plural, namespace, name, {annotation: json_compact(versions)}
    )
    return True


_dynamic: Any = None
FIELD_MANAGER = "switchboard-operator"


def _dyn() -> Any:
    global _dynamic  # noqa: PLW0603 (one discovery cache per process)
    if _dynamic is None:
        from kubernetes import dynamic  # noqa: PLC0415 (discovery is slow; only when used)

        _dynamic = dynamic.DynamicClient(client.ApiClient())  # type: ignore[no-untyped-call]
    return _dynamic


async def apply(manifest: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and a no-op apply does not bump resourceVersion."""

    def run() -> Any:
        resource = _dyn().resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        return resource.server_side_apply(
            body=manifest,
            name=manifest["metadata"]["name"],
            namespace=manifest["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )

    await asyncio.to_thread(run)


async def read_config_map_key(namespace: str, name: str, key: str) -> str:
    def get() -> Any:
        return client.CoreV1Api().read_namespaced_config_map(name, namespace)

    try:
        cm = await asyncio.to_thread(get)
    except ApiException as err:
        if err.status == 404:
            raise MissingConfigMapError(namespace, name) from None
        raise
    data = cm.data or {}
    if key not in data:
        raise MissingConfigMapError(namespace, name, key)
    return str(data[key])


class MissingConfigMapError(MissingSecretError):
    """A referenced ConfigMap or key is absent."""

    def __init__(self, namespace: str, name: str, key: str | None = None) -> None:
        super().__init__(namespace, name, key)
        what = f"key {key!r} in ConfigMap {name!r}" if key else f"ConfigMap {name!r}"
        self.args = (f"{what} not found in namespace {namespace!r}",)


async def deployment_replicas(namespace: str, name: str) -> int | None:
    """spec.replicas of an existing Deployment; None when there is none."""

    def get() -> Any:
        return client.AppsV1Api().read_namespaced_deployment(name, namespace)

    try:
        dep = await asyncio.to_thread(get)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return int(dep.spec.replicas or 0)


async def scale_deployment(namespace: str, name: str, replicas: int) -> None:
    def patch() -> Any:
        return client.AppsV1Api().patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}
        )

    await asyncio.to_thread(patch)


async def annotate_pod(namespace: str, name: str, annotations: dict[str, str]) -> None:
    def patch() -> Any:
        return client.CoreV1Api().patch_namespaced_pod(
            name, namespace, {"metadata": {"annotations": annotations}}
        )

    try:
        await asyncio.to_thread(patch)
    except ApiException as err:
        if err.status != 404:  # the pod went away meanwhile: nothing to annotate
            raise


async def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    def patch() -> Any:
        return client.CustomObjectsApi().patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": status}
        )

    await asyncio.to_thread(patch)


def utcnow() -> datetime:
    return datetime.now(UTC)


def short_version(*parts: object) -> str:
    """A short stable digest of `parts`, for nudge annotations."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


async def post_event(ref: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """An Event about `ref` from outside kopf's handler context (kopf.event needs that context)."""
    meta = ref["metadata"]
    now = utcnow()
    body = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
        involved_object=client.V1ObjectReference(
            api_version=ref["apiVersion"], kind=ref["kind"], name=meta["name"],
            namespace=meta["namespace"], uid=meta["uid"],
        ),
        type=type_, reason=reason, message=message[:1024],
        first_timestamp=now, last_timestamp=now, count=1,
        source=client.V1EventSource(component=FIELD_MANAGER),
        reporting_component=FIELD_MANAGER, reporting_instance=FIELD_MANAGER,
    )  # fmt: skip

    def create() -> Any:
        return client.CoreV1Api().create_namespaced_event(meta["namespace"], body)

    await asyncio.to_thread(create)
