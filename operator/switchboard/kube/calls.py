"""Call state writes that must not race: a status replaced only if its phase is as expected."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchboard.api import GROUP, VERSION


async def read_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """One object by name, fresh from the API server (None when gone).

    Only where a decision must not rest on a watch that may lag: claiming a call."""

    def get() -> Any:
        return client.CustomObjectsApi().get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )

    try:
        return dict(await asyncio.to_thread(get))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


async def swap_status(
    plural: str,
    namespace: str,
    name: str,
    uid: str,
    expect_phase: str | None,
    status: dict[str, Any],
    resource_version: str | None = None,
) -> bool:
    """Write `status` only while the stored phase is `expect_phase` (None: no status yet) and
    the object is still `uid`: a compare-and-swap done by the API server (JSON patch `test`).

    False when someone else moved the phase first, or the object is gone; that is how two
    writers (a restarted operator, a repeated dispatch) never both start one call. Phases only
    move forward, so testing the phase is enough; with no phase yet the whole object must
    still be at `resource_version` (JSON patch cannot test that a path is absent)."""
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/uid", "value": uid}]
    if expect_phase is None:
        if resource_version is None:
            raise ValueError("a first status needs the resourceVersion it was decided on")
        rv = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
        ops += [rv, {"op": "add", "path": "/status", "value": status}]
    else:
        ops.append({"op": "test", "path": "/status/phase", "value": expect_phase})
        ops.append({"op": "replace", "path": "/status", "value": status})

    def patch() -> Any:
        return client.CustomObjectsApi().patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            ops,
            _content_type="application/json-patch+json",
        )

    try:
        await asyncio.to_thread(patch)
    except ApiException as err:
        # 422: a `test` failed; 404: deleted; 409: a concurrent write (resourceVersion)
        if err.status in (404, 409, 422):
            return False
        raise
    return True
