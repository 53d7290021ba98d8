"""The chart's ValidatingAdmissionPolicy on the real API server: the operator's account may
patch pods (RBAC says so, cluster-wide) but only to set pod-deletion-cost on worker pods."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from switchboard.livekit.client import LiveKitEndpoint

from devstack import kube as devkube
from devstack import tools
from tests.support.binaries import require_binary
from tests.support.chart import install_as_operator
from tests.support.kube import Kube, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

COST = "controller.kubernetes.io/pod-deletion-cost"


@pytest.fixture
def operator_account(
    kube: Kube, tmp_path: Path, livekit_endpoint: LiveKitEndpoint
) -> Iterator[Path]:
    """A cluster-mode install (RBAC and the policy); a kubeconfig of its ServiceAccount."""
    require_binary(tools.helm(), "helm")
    release = f"sb-vap-{uuid.uuid4().hex[:5]}"
    try:
        yield install_as_operator(kube, release, livekit_endpoint, tmp_path)
    finally:
        devkube.helm(kube.kubeconfig, "uninstall", release, "-n", kube.namespace)


def _pod(kube: Kube, name: str, labels: dict[str, str]) -> None:
    restricted = client.V1SecurityContext(
        allow_privilege_escalation=False,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        run_as_non_root=True,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    container = client.V1Container(
        name="c", image="registry.local/none:0", security_context=restricted
    )
    meta = client.V1ObjectMeta(name=name, labels=labels)
    kube.core.create_namespaced_pod(
        kube.namespace, client.V1Pod(metadata=meta, spec=client.V1PodSpec(containers=[container]))
    )


def _patch(kubeconfig: Path, kube: Kube, pod: str, metadata: dict[str, object]) -> str:
    """'' when the patch went through, else the API server's refusal (a PATCH alone, as the
    operator sends it: its role has no pods/get)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        client.CoreV1Api(api).patch_namespaced_pod(pod, kube.namespace, {"metadata": metadata})
    except ApiException as err:
        return str(err.body)
    finally:
        api.close()
    return ""


def test_the_operator_account_may_only_set_deletion_cost_on_worker_pods(
    kube: Kube, operator_account: Path
) -> None:
    """Failed before (no policy): every one of these patches went through."""
    _pod(kube, "worker", {"app.kubernetes.io/component": "agent-worker"})
    _pod(kube, "bystander", {"app": "payments"})
    can = devkube.kubectl(operator_account, "auth", "can-i", "patch", "pods", "-n", kube.namespace)
    assert can.strip() == "yes"  # RBAC alone would let it patch any pod

    # the policy takes effect a moment after install: probe on a pod of its own, with a
    # new value each time (a patch that changes nothing is no update to deny)
    _pod(kube, "probe", {"app.kubernetes.io/component": "agent-worker"})

    def denied_label() -> str:
        return _patch(operator_account, kube, "probe", {"labels": {"x": uuid.uuid4().hex}})

    wait_for(denied_label, "the admission policy to take effect")
    refusal = _patch(operator_account, kube, "worker", {"labels": {"x": "y"}})
    assert "only the pod-deletion-cost annotation" in refusal
    assert _patch(operator_account, kube, "worker", {"annotations": {COST: "5"}}) == ""
    other = _patch(operator_account, kube, "bystander", {"annotations": {COST: "5"}})
    assert "only its agent-worker pods" in other
    sneaky = _patch(operator_account, kube, "worker", {"annotations": {"evil": "1", COST: "6"}})
    assert "only the pod-deletion-cost annotation" in sneaky
    worker = kube.core.read_namespaced_pod("worker", kube.namespace)
    assert worker.metadata.annotations == {COST: "5"} and "x" not in worker.metadata.labels
