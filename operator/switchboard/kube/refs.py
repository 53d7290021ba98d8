"""Reading what a spec references (Secrets, ConfigMaps); a missing one is a typed error."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException


class MissingSecretError(Exception):
    """A referenced Secret or key is absent; the message names it (never its values)."""

    def __init__(self, namespace: str, name: str, key: str | None = None) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        what = f"key {key!r} in Secret {name!r}" if key else f"Secret {name!r}"
        super().__init__(f"{what} not found in namespace {namespace!r}")


class MissingConfigMapError(MissingSecretError):
    """A referenced ConfigMap or key is absent."""

    def __init__(self, namespace: str, name: str, key: str | None = None) -> None:
        super().__init__(namespace, name, key)
        what = f"key {key!r} in ConfigMap {name!r}" if key else f"ConfigMap {name!r}"
        self.args = (f"{what} not found in namespace {namespace!r}",)


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
