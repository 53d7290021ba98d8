"""Real pods on the real node: a Debian-built image runs, serves HTTP, goes, leaves nothing."""

from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from devstack import images, node_host
from devstack import node as devnode
from devstack.node_config import TAINT_KEY
from tests.support.kube import Kube, wait_for

pytestmark = pytest.mark.node
FORWARD_BEFORE = node_host.ip_forward()  # the host's, before the node starts


def _restricted_pod(name: str, node: str, token: str) -> dict[str, Any]:
    """A pod that passes Pod Security `restricted` and serves HTTP from Debian's python3."""
    serve = (
        "import http.server, sys; sys.argv[0] = 'srv'; "
        "http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, "
        f"port=8080, bind='0.0.0.0')  # {token}"
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 2,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "web",
                    "image": images.base_image().ref,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", serve],
                    "workingDir": "/tmp",
                    "ports": [{"containerPort": 8080}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _host_pids(token: str) -> list[int]:
    return [pid for pid in node_host.pids_mentioning(token) if Path(f"/proc/{pid}/status").exists()]


def test_real_pod_runs_serves_and_goes(kube: Kube, real_node: devnode.Node) -> None:
    token = f"sbnode-{uuid.uuid4().hex[:8]}"
    name = "web"
    created = time.monotonic()
    kube.core.create_namespaced_pod(kube.namespace, _restricted_pod(name, real_node.name, token))

    def running() -> Any:
        pod = kube.core.read_namespaced_pod(name, kube.namespace)
        return pod if pod.status.phase == "Running" and pod.status.pod_ip else None

    pod = wait_for(running, "the pod Running on the real node", timeout=90)
    start_s = time.monotonic() - created
    print(f"pod created -> Running: {start_s:.2f}s")
    assert pod.spec.node_name == real_node.name
    assert pod.status.pod_ip.startswith("10.213.0.")

    # The container's process is a real host process, under the pod's uid.
    pids = wait_for(lambda: _host_pids(token), "the container process on the host")
    status = Path(f"/proc/{pids[0]}/status").read_text()
    assert "65532" in next(line for line in status.splitlines() if line.startswith("Uid:"))

    # It answers HTTP on its pod address (the node's bridge, local to this machine).
    def answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(lambda: answers(f"http://{pod.status.pod_ip}:8080/"), "HTTP from the pod")
    assert node_host.ip_forward() == FORWARD_BEFORE  # the CNI plugin left the host alone

    # kube-proxy: the pod behind a ClusterIP Service, reached from the host.
    kube.core.patch_namespaced_pod(name, kube.namespace, {"metadata": {"labels": {"app": token}}})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": token}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    cluster_ip = kube.core.create_namespaced_service(kube.namespace, service).spec.cluster_ip
    wait_for(lambda: answers(f"http://{cluster_ip}/"), "HTTP through the Service (kube-proxy)")
    assert len(node_host.links_of(real_node.bridge)) == 2  # the bridge and the pod's veth

    kube.core.delete_namespaced_service(name, kube.namespace)
    kube.core.delete_namespaced_pod(name, kube.namespace)

    def gone() -> bool:
        try:
            kube.core.read_namespaced_pod(name, kube.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, "the pod to be deleted")
    wait_for(lambda: not _host_pids(token), "the container process to exit")
    wait_for(
        lambda: node_host.links_of(real_node.bridge) in ([], [real_node.bridge]),
        "the pod's veth to go",
    )


@pytest.mark.parametrize(
    ("image", "check"),
    [
        ("operator", "import kopf, switchboard.handlers; print('ok')"),
        (
            "agent",
            "import switchboard_agent.worker; from livekit.plugins import silero; print('ok')",
        ),
    ],
)
def test_project_image_runs_on_the_node(
    kube: Kube, real_node: devnode.Node, image: str, check: str
) -> None:
    """The Dockerfiles built by buildah run under PSA restricted on the real node."""
    built = images.app_image(image)
    images.import_image(node_host.containerd_bin("ctr"), real_node.socket, built)
    pod = _restricted_pod(image, real_node.name, uuid.uuid4().hex[:8])
    container = pod["spec"]["containers"][0]
    container.update(image=built.ref, command=["python", "-c", check], workingDir="/")
    container.pop("ports")
    pod["spec"]["restartPolicy"] = "Never"
    created = time.monotonic()
    kube.core.create_namespaced_pod(kube.namespace, pod)

    def finished() -> str:
        phase: str = kube.core.read_namespaced_pod(image, kube.namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else ""

    phase = wait_for(finished, f"the {image} pod to finish", timeout=120)
    print(f"{image} pod created -> exited: {time.monotonic() - created:.2f}s")
    log = kube.core.read_namespaced_pod_log(image, kube.namespace)
    assert (phase, log.strip().splitlines()[-1]) == ("Succeeded", "ok")
    kube.core.delete_namespaced_pod(image, kube.namespace)


def test_pod_reaches_the_apiserver_through_its_service(kube: Kube, real_node: devnode.Node) -> None:
    """In-cluster config, as the operator pod uses it: the `kubernetes` Service, SA token, TLS."""
    built = images.app_image("operator")
    images.import_image(node_host.containerd_bin("ctr"), real_node.socket, built)
    check = (
        "from kubernetes import client, config; config.load_incluster_config(); "
        "print(client.VersionApi().get_code().git_version)"
    )
    pod = _restricted_pod("incluster", real_node.name, uuid.uuid4().hex[:8])
    container = pod["spec"]["containers"][0]
    container.update(image=built.ref, command=["python", "-c", check], workingDir="/")
    container.pop("ports")
    pod["spec"]["restartPolicy"] = "Never"
    kube.core.create_namespaced_pod(kube.namespace, pod)

    def finished() -> str:
        phase: str = kube.core.read_namespaced_pod("incluster", kube.namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else ""

    phase = wait_for(finished, "the in-cluster client pod to finish", timeout=120)
    log = kube.core.read_namespaced_pod_log("incluster", kube.namespace)
    assert (phase, log.strip().splitlines()[-1]) == ("Succeeded", "v1.36.4"), log


def test_node_down_leaves_nothing(real_node: devnode.Node) -> None:
    left = real_node.down()
    assert left == {
        "mounts": [],
        "links": [],
        "chains": {"iptables": [], "ip6tables": []},
        "processes": [],
    }
    assert not real_node.ready()
    assert node_host.ip_forward() == FORWARD_BEFORE
    logs = Path("/var/log/containers")
    links = [p for p in logs.iterdir() if p.is_symlink()] if logs.is_dir() else []
    assert not [p for p in links if str(p.readlink()).startswith(f"{real_node.dir}/")]
    assert not Path("/var/lib/kubelet/device-plugins/kubelet.sock").exists()
