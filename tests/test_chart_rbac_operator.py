"""The operator does its whole job with nothing but the chart's namespace-mode RBAC.

`make up` (tests/test_devstack_up.py) runs it with the cluster-mode RBAC; here it runs as
the ServiceAccount of a `watchScope=namespace` install, with a token of that account: a
SipTrunk and a VoiceAgent become Ready (LiveKit trunk and dispatch rule, worker Secret,
ConfigMap, Deployment and PDB applied, worker pods watched, events posted).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint

from devstack import kube as devkube
from devstack import tools
from devstack.procs import free_port
from devstack.tools import REPO
from tests.support.binaries import require_binary
from tests.support.chart import install_as_operator
from tests.support.kube import Kube, load_yaml, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]


@pytest.fixture
def namespaced_operator(
    kube: Kube, tmp_path: Path, livekit: LiveKitClient, livekit_endpoint: LiveKitEndpoint
) -> Iterator[Path]:
    """Install the chart (namespace mode) and run the operator locally as its ServiceAccount."""
    require_binary(tools.helm(), "helm")
    release = f"sb-rbac-{uuid.uuid4().hex[:5]}"
    lk = livekit_endpoint
    kubeconfig = install_as_operator(kube, release, lk, tmp_path, "watchScope=namespace")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    port = free_port()
    env.update(
        KUBECONFIG=str(kubeconfig),
        NO_PROXY="127.0.0.1,localhost",
        LIVEKIT_URL=lk.url,
        LIVEKIT_API_KEY=lk.api_key,
        LIVEKIT_API_SECRET=lk.api_secret,
        SWITCHBOARD_REPORT_LISTEN=f"127.0.0.1:{port}",
        SWITCHBOARD_REPORT_URL=f"http://127.0.0.1:{port}/v1/reports",
        SWITCHBOARD_AGENT_IMAGE="registry.local/switchboard-agent:test",
    )
    log = tmp_path / "operator.log"
    argv = [sys.executable, "-m", "switchboard", "--standalone", f"--namespace={kube.namespace}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        devkube.helm(kube.kubeconfig, "uninstall", release, "-n", kube.namespace)


def ready(kube: Kube, kind: str, name: str) -> bool:
    conds = (kube.get(kind, name).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_operator_works_with_namespace_rbac_only(kube: Kube, namespaced_operator: Path) -> None:
    docs = [doc for path in sorted((REPO / "examples").glob("*.yaml")) for doc in load_yaml(path)]
    log = namespaced_operator
    # the trunk first (a VoiceAgent whose trunk is not Ready yet backs off for 30 s)
    kube.create(next(d for d in docs if d["kind"] == "SipTrunk"))
    wait_for(lambda: ready(kube, "SipTrunk", "local-carrier"), "SipTrunk Ready", timeout=120)
    kube.create(next(d for d in docs if d["kind"] == "VoiceAgent"))
    wait_for(lambda: ready(kube, "VoiceAgent", "front-desk"), "VoiceAgent Ready", timeout=120)
    worker = "front-desk-worker"
    for kind, name in [
        ("secret", worker),
        ("configmap", "front-desk-agent-config"),
        ("deployment", worker),
        ("pdb", worker),
    ]:
        assert devkube.get(kube.kubeconfig, kind, name, kube.namespace), f"{kind}/{name}"
    text = log.read_text(errors="replace")
    assert "Forbidden" not in text and " 403" not in text, text[-4000:]
