"""Rendering the Helm chart for tests: `helm template` output as dicts, picked by kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack import kube as devkube
from devstack import tools
from devstack.cluster import Cluster
from tests.fixtures.kube import Kube
from tests.fixtures.tiers import require_binary

PEERING = "switchboard"  # the chart's peering name for release "switchboard"


@pytest.fixture(scope="module")
def helm() -> Path:
    return require_binary(tools.helm(), "helm")


def render(*values: str, release: str = "switchboard", ns: str = "switchboard") -> list[dict]:
    return devkube.render_chart(release, ns, *values)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def env_of(docs: list[dict]) -> dict[str, Any]:
    """The operator container's env, name -> value (or valueFrom)."""
    (dep,) = by_kind(docs, "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def chart_crds(kube_cluster: Cluster) -> list[str]:
    """Every CRD the chart ships (its crds/ and the kopf-peering subchart's), Established."""
    require_binary(tools.helm(), "helm")
    docs = devkube.render_chart("crds", "default", crds=True)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    devkube.apply(kube_cluster.kubeconfig, crds)
    names = [f"crd/{d['metadata']['name']}" for d in crds]
    devkube.kubectl(kube_cluster.kubeconfig, "wait", "--for=condition=Established", *names)
    return names


def apply_peering(kube: Kube) -> None:
    """The chart's peering object for watchScope=namespace, applied as helm would."""
    docs = render("watchScope=namespace", ns=kube.namespace)
    peering = [d for d in docs if d["kind"] == "KopfPeering"]
    assert [d["metadata"]["name"] for d in peering] == [PEERING]
    devkube.apply(kube.kubeconfig, peering)
