"""Opt-in `kind` tier: helm install on the real cluster KUBECONFIG points at (kind/minikube).

Needs the images in the cluster (e.g. `skaffold build -p kind` or `kind load docker-image`),
named by SWITCHBOARD_OPERATOR_IMAGE (and optionally SWITCHBOARD_AGENT_IMAGE):

    SWITCHBOARD_OPERATOR_IMAGE=switchboard-operator:dev make test-kind
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from devstack import kube as devkube
from devstack import tools
from devstack.tools import REPO
from tests.support.binaries import require_binary
from tests.support.kube import wait_for

pytestmark = pytest.mark.kind

CHART = REPO / "charts" / "switchboard"


def split(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    return repo, tag or "latest"


@pytest.fixture
def namespace() -> Iterator[str]:
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("the kind tier needs KUBECONFIG pointing at a kind/minikube cluster")
    require_binary(tools.helm(), "helm")
    ns = f"switchboard-kind-{uuid.uuid4().hex[:6]}"
    devkube.kubectl(None, "create", "namespace", ns)
    devkube.kubectl(None, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    yield ns
    devkube.kubectl(None, "delete", "namespace", ns, "--wait=false")


def values() -> list[str]:
    ref = os.environ.get("SWITCHBOARD_OPERATOR_IMAGE")
    if not ref:
        pytest.skip("set SWITCHBOARD_OPERATOR_IMAGE to an operator image the cluster can run")
    repo, tag = split(ref)
    out = [f"image.repository={repo}", f"image.tag={tag}", "image.pullPolicy=IfNotPresent"]
    if agent := os.environ.get("SWITCHBOARD_AGENT_IMAGE"):
        arepo, atag = split(agent)
        out += [f"agentImage.repository={arepo}", f"agentImage.tag={atag}"]
    # An unreachable LiveKit is fine here: the test is about install, pods and RBAC.
    out += ["livekit.url=ws://livekit.invalid:7880", "livekit.apiKey=k", "livekit.apiSecret=s"]
    return out


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
def test_helm_install_on_a_real_cluster(namespace: str, scope: str) -> None:
    release = f"sbk-{scope[:2]}-{uuid.uuid4().hex[:4]}"
    args = [
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--wait",
        "--timeout",
        "5m",
        "--set",
        f"watchScope={scope}",
        "--set",
        "replicaCount=2",
    ]
    for value in values():
        args += ["--set", value]
    devkube.helm(None, *args)
    try:
        pods = json.loads(
            devkube.kubectl(
                None,
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"app.kubernetes.io/instance={release}",
                "-o",
                "json",
            )
        )
        assert len(pods["items"]) == 2
        for pod in pods["items"]:  # real kubelet: probes passed, containers ready
            assert all(c["ready"] for c in pod["status"]["containerStatuses"])
        sa = f"system:serviceaccount:{namespace}:{release}-switchboard-operator"

        def can(*argv: str) -> bool:
            cmd = [str(tools.kubectl()), "auth", "can-i", *argv, f"--as={sa}"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            return done.stdout.strip() == "yes"

        assert can("patch", "voiceagents.switchboard.dev", "--subresource=status", "-n", namespace)
        assert not can("create", "pods", "--subresource=exec", "-n", namespace)
        assert can("get", "secrets", "-n", "default") == (scope == "cluster")

        # exactly one replica is active in the peering
        kind = "clusterkopfpeering" if scope == "cluster" else "kopfpeering"
        get = ["get", kind, f"{release}-switchboard", "-o", "json"]
        get += ["-n", namespace] if scope == "namespace" else []

        def two_peers() -> dict:
            status = json.loads(devkube.kubectl(None, *get)).get("status") or {}
            return status if len(status) == 2 else {}

        peers = wait_for(two_peers, "both replicas in the peering", timeout=120)
        assert len({p["priority"] for p in peers.values()}) == 2
    finally:
        devkube.helm(None, "uninstall", release, "-n", namespace, "--wait")
