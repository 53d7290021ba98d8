"""The operator (kopf, --standalone) against the real control plane: a SipTrunk gets its status."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.tools import REPO
from tests.support.kube import GROUP, VERSION, Kube, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

TRUNK: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "SipTrunk",
    "metadata": {"name": "roundtrip"},
    "spec": {"inbound": {"numbers": ["+15105550100"], "allowedAddresses": ["127.0.0.1/32"]}},
}


def _closed_loopback_port() -> int:
    """A loopback port nobody listens on: the operator's LiveKit is unreachable by design."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def operator(kube: Kube, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`python -m switchboard --standalone` watching only this test's namespace."""
    log = tmp_path / "operator.log"
    port = _closed_loopback_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_PROXY", "_proxy"))},
        "KUBECONFIG": str(kube.kubeconfig),
        "LIVEKIT_URL": f"http://127.0.0.1:{port}",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "devsecret-devsecret-devsecret-devsecret",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    cmd = [sys.executable, "-m", "switchboard", "--standalone", f"--namespace={kube.namespace}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_operator_patches_siptrunk_status(
    kube: Kube, operator: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, log = operator
    created = kube.create(TRUNK)

    def reconciled() -> dict[str, Any] | None:
        if proc.poll() is not None:
            pytest.fail(
                f"operator exited with {proc.returncode}:\n{log.read_text()}", pytrace=False
            )
        obj = kube.get("SipTrunk", "roundtrip")
        status = obj.get("status") or {}
        if status.get("observedGeneration") == obj["metadata"]["generation"] and status.get(
            "conditions"
        ):
            return obj
        return None

    obj = wait_for(reconciled, "the operator to patch SipTrunk status", timeout=120)
    status = obj["status"]
    assert status["observedGeneration"] == created["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert "Synced" in conditions, status
    synced = conditions["Synced"]
    # LiveKit is unreachable on purpose: the operator must say so instead of staying silent.
    assert synced["status"] == "False", synced
    assert synced["reason"] == "LiveKitUnavailable", synced
    assert obj["spec"] == created["spec"]
