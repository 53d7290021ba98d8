"""Two operator replicas in one kopf peering: one acts, one stands by and takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import kube as devkube
from devstack.procs import free_port
from devstack.tools import REPO
from tests.support.chart import PEERING, apply_peering
from tests.support.kube import GROUP, VERSION, Kube, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]


@dataclass
class Replica:
    """`python -m switchboard --namespace=NS --peering=NAME` with POD_ID as its identity."""

    pod_id: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def replicas(kube: Kube, tmp_path: Path, chart_crds: list[str]) -> Iterator[list[Replica]]:
    apply_peering(kube)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        env.pop(name, None)  # no LiveKit: SipTrunks fail visibly with LiveKitNotConfigured
    env.update(KUBECONFIG=str(kube.kubeconfig), NO_PROXY="127.0.0.1,localhost")
    started = []
    for pod_id in ("replica-a", "replica-b"):
        log = tmp_path / f"{pod_id}.log"
        health = f"http://127.0.0.1:{free_port()}/healthz"
        argv = [
            sys.executable,
            "-m",
            "switchboard",
            f"--namespace={kube.namespace}",
            f"--peering={PEERING}",
            f"--liveness={health}",
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=REPO, env={**env, "POD_ID": pod_id}, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(Replica(pod_id, proc, log))
    yield started
    for rep in started:
        if rep.proc.poll() is None:
            rep.proc.terminate()
            try:
                rep.proc.wait(30)
            except subprocess.TimeoutExpired:
                rep.proc.kill()
                rep.proc.wait()


def peers(kube: Kube) -> dict[str, dict]:
    obj = devkube.get(kube.kubeconfig, "kopfpeerings.kopf.dev", PEERING, kube.namespace)
    return dict((obj or {}).get("status") or {})


def trunk(name: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {"inbound": {"numbers": ["+15550100100"]}},
    }


def handled_by(replicas: list[Replica], name: str) -> list[str]:
    return [r.pod_id for r in replicas if f"/{name}]" in r.text()]


def test_two_replicas_one_active(kube: Kube, replicas: list[Replica]) -> None:
    for rep in replicas:
        assert rep.proc.poll() is None, rep.text()[-3000:]
    found = wait_for(
        lambda: (p := peers(kube)) and len(p) == 2 and p, "both replicas in the peering"
    )
    priorities = {pid: info["priority"] for pid, info in found.items()}
    assert set(priorities) == {"replica-a", "replica-b"}
    assert len(set(priorities.values())) == 2, "random priorities never tie"
    active = max(priorities, key=lambda pid: priorities[pid])
    standby = next(r for r in replicas if r.pod_id != active)
    # (A replica with mandatory peering starts paused; the standby may never log a pause.)

    kube.create(trunk("first"))
    wait_for(
        lambda: (kube.get("SipTrunk", "first").get("status") or {}).get("conditions"),
        "the active replica to handle SipTrunk first",
    )
    reason = kube.get("SipTrunk", "first")["status"]["conditions"][0]["reason"]
    assert reason == "LiveKitNotConfigured"
    assert handled_by(replicas, "first") == [active]

    # The active replica stops (a rollout, a node drain): it leaves the peering on the way
    # out, and the standby resumes and handles what comes next.
    active_rep = next(r for r in replicas if r.pod_id == active)
    before = len(standby.text())  # both may have logged a resume at startup
    active_rep.proc.send_signal(signal.SIGTERM)
    active_rep.proc.wait(60)
    wait_for(
        lambda: "Resuming operations after the pause" in standby.text()[before:],
        "the standby to resume",
    )
    kube.create(trunk("second"))
    wait_for(
        lambda: (kube.get("SipTrunk", "second").get("status") or {}).get("conditions"),
        "the former standby to handle SipTrunk second",
    )
    assert handled_by(replicas, "second") == [standby.pod_id]
    assert json.dumps(peers(kube)).count("replica-") == 1
