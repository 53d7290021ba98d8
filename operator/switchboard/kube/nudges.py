"""Nudges: re-sync an object when something it depends on changes, through an annotation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from kubernetes import client

from switchboard.api import GROUP, VERSION


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
    plural: str,
    namespace: str,
    name: str,
    annotation: str,
    seen: str | None,
    source: str,
    version: str,
) -> bool:
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


def short_version(*parts: object) -> str:
    """A short stable digest of `parts`, for nudge annotations."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]
