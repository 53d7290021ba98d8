"""Writes to what the operator owns: applied manifests, replicas, pod costs, status, events."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchboard.api import GROUP, VERSION
from switchboard.kube.session import FIELD_MANAGER, dynamic_client, utcnow


class NotOwnedError(Exception):
    """An object the operator would write exists but is not controlled by the would-be owner."""

    def __init__(self, kind: str, namespace: str, name: str, holder: str) -> None:
        self.kind, self.namespace, self.name, self.holder = kind, namespace, name, holder
        super().__init__(f"{kind} {name!r} already exists in namespace {namespace!r}, {holder}")


def _holder(existing: Any, owner_uid: str) -> str | None:
    """None when `owner_uid` controls `existing`, else who does (for the Conflict message)."""
    refs = existing.metadata.get("ownerReferences") or []
    controller = next((r for r in refs if r.get("controller")), None)
    if controller is not None and controller.get("uid") == owner_uid:
        return None
    if controller is None:
        return "not created by this VoiceAgent (no controller)"
    return f"controlled by {controller.get('kind')} {controller.get('name')!r}"


async def apply_owned(manifest: dict[str, Any]) -> None:
    """`apply`, but only to an object that is new or already controlled by the manifest's
    controller: server-side apply with force would otherwise adopt a stranger's object, and
    garbage collection would delete it with ours."""
    meta = manifest["metadata"]
    owner_uid = next(r["uid"] for r in meta["ownerReferences"] if r.get("controller"))

    def read() -> Any:
        resources = dynamic_client().resources
        resource = resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        try:
            return resource.get(name=meta["name"], namespace=meta.get("namespace"))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    existing = await asyncio.to_thread(read)
    if existing is not None:
        holder = _holder(existing, owner_uid)
        if holder is not None:
            raise NotOwnedError(manifest["kind"], meta.get("namespace", ""), meta["name"], holder)
    await apply(manifest)


# Every JSON escape, or a surrogate pair: scanned left to right, so `\\ud83d` (an escaped
# backslash, then text) is never mistaken for half a pair.
_ESCAPE = re.compile(r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|.)", re.DOTALL)


def apply_body(manifest: dict[str, Any]) -> bytes:
    """The manifest as the apply YAML decoder takes it: JSON (which is YAML) with characters
    beyond U+FFFF written raw, since that decoder refuses surrogate-pair escapes (an emoji in
    a greeting), and everything else non-ASCII escaped, since it refuses raw C1 controls."""

    def unpair(match: re.Match[str]) -> str:
        escape = match.group(0)
        return json.loads(f'"{escape}"') if len(escape) == 12 else escape

    return _ESCAPE.sub(unpair, json.dumps(manifest)).encode()


async def apply(manifest: dict[str, Any]) -> None:
    """Server-side apply: idempotent, and a no-op apply does not bump resourceVersion."""

    def run() -> Any:
        resource = dynamic_client().resources.get(
            api_version=manifest["apiVersion"], kind=manifest["kind"]
        )
        return resource.server_side_apply(
            body=apply_body(manifest),
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


async def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> bool:
    """Merge-patch the status; False when the object is gone (its pods outlive it briefly)."""

    def patch() -> Any:
        return client.CustomObjectsApi().patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": status}
        )

    try:
        await asyncio.to_thread(patch)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


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


async def put_secret_key(
    namespace: str, name: str, key: str, value: str | None, labels: dict[str, str]
) -> None:
    """Set (or with None remove) one data key of a shared Secret, creating it when absent.

    A merge patch of that key only: writers of other keys (other VoiceAgents) are untouched,
    and an unchanged value is a no-op write."""
    encoded = None if value is None else base64.b64encode(value.encode()).decode()
    data = {key: encoded}
    core = client.CoreV1Api()

    def write() -> None:
        for _ in range(3):
            try:
                core.patch_namespaced_secret(name, namespace, {"data": data})
                return
            except ApiException as err:
                if err.status != 404:
                    raise
            if value is None:
                return  # nothing to remove from a Secret that does not exist
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
                type="Opaque",
                data={key: encoded or ""},
            )
            try:
                core.create_namespaced_secret(namespace, body)
                return
            except ApiException as err:
                if err.status != 409:  # created meanwhile by another pass: patch it
                    raise

    await asyncio.to_thread(write)
