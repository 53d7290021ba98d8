"""The Helm chart in tests: `helm template` output as dicts picked by kind, and installs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from switchboard.livekit.client import LiveKitEndpoint

from devstack import kube as devkube
from devstack.tools import REPO
from tests.support.kube import Kube

CHART = REPO / "charts" / "switchboard"
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


def install_as_operator(
    kube: Kube, release: str, livekit: LiveKitEndpoint, tmp_path: Path, *values: str
) -> Path:
    """`helm install` the chart into the test's namespace with `--set values` and the test
    LiveKit; a kubeconfig authenticating as the operator's ServiceAccount."""
    sets = [f"livekit.url={livekit.url}", f"livekit.apiKey={livekit.api_key}"]
    sets += [f"livekit.apiSecret={livekit.api_secret}", "peering.enabled=false", *values]
    args = [arg for value in sets for arg in ("--set", value)]
    devkube.helm(kube.kubeconfig, "install", release, str(CHART), "-n", kube.namespace, *args)
    sa = f"{release}-switchboard-operator"
    token = devkube.kubectl(kube.kubeconfig, "create", "token", sa, "-n", kube.namespace)
    return devkube.token_kubeconfig(kube.kubeconfig, token.strip(), tmp_path / "sa.kubeconfig")
