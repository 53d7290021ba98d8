"""The operator's API session: credentials, the dynamic client, its field manager, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

FIELD_MANAGER = "switchboard-operator"

# What a direct API call raises when the API server answers with an error or cannot be
# reached; whatever a pass did not handle itself is retried on the pass's own backoff.
API_ERRORS: tuple[type[Exception], ...] = (ApiException, HTTPError)


def load_config() -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig (like kopf's login)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


_dynamic: Any = None


def dynamic_client() -> Any:
    global _dynamic  # noqa: PLW0603 (one discovery cache per process)
    if _dynamic is None:
        from kubernetes import dynamic  # noqa: PLC0415 (discovery is slow; only when used)

        _dynamic = dynamic.DynamicClient(client.ApiClient())  # type: ignore[no-untyped-call]
    return _dynamic


def utcnow() -> datetime:
    return datetime.now(UTC)
