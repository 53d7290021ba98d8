"""The k8s tier's helpers: a test's view of its namespace, polling, CRDs, manifest edits."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from devstack import cluster as devcluster
from devstack.procs import StartupError, poll
from devstack.tools import REPO

GROUP = "switchboard.dev"
VERSION = "v1alpha1"
CRD_DIR = REPO / "crds"
PLURALS = {
    "SipTrunk": "siptrunks",
    "VoiceAgent": "voiceagents",
    "OutboundCall": "outboundcalls",
    "CallCampaign": "callcampaigns",
}


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; fail the test with `what` otherwise.

    The timeout is a hang guard, not an assertion about speed.
    """
    try:
        return poll(check, timeout, what, 0.2)
    except StartupError as err:
        pytest.fail(f"gave up waiting for {what}: {err}", pytrace=False)


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@dataclass
class Kube:
    """A test's view of the cluster: its own namespace plus typed and custom-object clients."""

    cluster: devcluster.Cluster
    api: client.ApiClient
    namespace: str
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api)

    def create(self, body: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create a SipTrunk/VoiceAgent in this test's namespace (server-side dry run if asked)."""
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURALS[body["kind"]], body, **kwargs
        )

    def apply(self, doc: dict[str, Any], *, dry_run: bool = False) -> Any:
        """Server-side apply any namespaced object into this test's namespace."""
        body = copy.deepcopy(doc)
        body["metadata"]["namespace"] = self.namespace
        resource = self.dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        return resource.server_side_apply(
            body=body,
            name=body["metadata"]["name"],
            namespace=self.namespace,
            field_manager="switchboard-tests",
            **kwargs,
        )

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURALS[kind], name
        )

    def exists(self, kind: str, name: str) -> bool:
        try:
            self.get(kind, name)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def delete(self, kind: str, name: str, propagation: str = "Background") -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURALS[kind],
            name,
            body=client.V1DeleteOptions(propagation_policy=propagation),
        )

    def patch_status(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object_status(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURALS[kind], name, body
        )


def install_crds(api: client.ApiClient) -> list[str]:
    """Server-side apply every CRD in crds/ and wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    dyn = dynamic.DynamicClient(api)
    crd_api = dyn.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    names: list[str] = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in load_yaml(path):
            name = doc["metadata"]["name"]
            crd_api.server_side_apply(body=doc, name=name, field_manager="switchboard-tests")
            names.append(name)

    def established(name: str) -> bool:
        conds = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conds)

    for name in names:
        wait_for(lambda n=name: established(n), f"CRD {name} to become Established")
    return names


DELETE = object()


def mutate(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of `doc` with dotted paths set (list indexes as digits) or removed (DELETE)."""
    out: dict[str, Any] = copy.deepcopy(doc)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node: Any = out
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return out


def rejection(exc: ApiException) -> str:
    """The API server's message for a rejected request (422 Invalid, 400 BadRequest...)."""
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.body)
