"""Rendering the Helm chart for tests: `helm template` output as dicts, picked by kind."""

from __future__ import annotations

from typing import Any

from devstack import kube as devkube
from tests.support.kube import Kube

PEERING = "switchboard"  # the chart's peering name for release "switchboard"


def render(*values: str, release: str = "switchboard", ns: str = "switchboard") -> list[dict]:
    return devkube.render_chart(release, ns, *values)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def env_of(docs: list[dict]) -> dict[str, Any]:
    """The operator container's env, name -> value (or valueFrom)."""
    (dep,) = by_kind(docs, "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def apply_peering(kube: Kube) -> None:
    """The chart's peering object for watchScope=namespace, applied as helm would."""
    docs = render("watchScope=namespace", ns=kube.namespace)
    peering = [d for d in docs if d["kind"] == "KopfPeering"]
    assert [d["metadata"]["name"] for d in peering] == [PEERING]
    devkube.apply(kube.kubeconfig, peering)
