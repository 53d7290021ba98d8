"""Writes to what the operator owns: applied manifests, replicas, pod costs, status, events."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchboard.api import GROUP, VERSION
from switchboard.kube.session import FIELD_MANAGER, dynamic_client, utcnow


async def apply(manifest: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and a no-op apply does not bump resourceVersion."""

    def run() -> Any:
        resource = dynamic_client().resources.get(
            api_version=manifest["apiVersion"], kind=manifest["kind"]
        )
        return resource.server_side_apply(
            body=manifest,
            name=manifest["metadata"]["name"],
            namespace=manifest["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )

    await asyncio.to_thread(run)


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


async def post_event(ref: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """An Event about `ref` from outside kopf's handler context (kopf.event needs that context)."""
    meta = ref["metadata"]
    now = utcnow()
    body = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
        involved_object=client.V1ObjectReference(
            api_version=ref["apiVersion"],
            kind=ref["kind"],
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
        ),
        type=type_,
        reason=reason,
        message=message[:1024],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component=FIELD_MANAGER),
        reporting_component=FIELD_MANAGER,
        reporting_instance=FIELD_MANAGER,
    )

    def create() -> Any:
        return client.CoreV1Api().create_namespaced_event(meta["namespace"], body)

    await asyncio.to_thread(create)
