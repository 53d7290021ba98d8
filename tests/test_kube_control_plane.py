"""The local control plane itself: version, RBAC, Pod Security Admission, fake nodes, lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from devstack import cluster as devcluster
from devstack.tools import versions
from tests.support.kube import Kube, rejection, wait_for

pytestmark = pytest.mark.k8s


def test_server_is_the_pinned_kubernetes(kube: Kube) -> None:
    info = client.VersionApi(kube.api).get_code()
    assert info.git_version == versions()["KUBERNETES_VERSION"]


def test_kubeconfig_points_at_loopback(kube: Kube) -> None:
    assert kube.api.configuration.host.startswith("https://127.0.0.1:")
    assert kube.kubeconfig.is_file()


def test_fake_nodes_are_ready(kube: Kube) -> None:
    nodes = kube.core.list_node().items
    assert nodes
    for node in nodes:
        assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True"


def _can_list_siptrunks(api: client.ApiClient, user: str, namespace: str) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="list", group="switchboard.dev", resource="siptrunks"
            ),
        )
    )
    result = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(result.status.allowed)


def test_rbac_is_enforced(kube: Kube) -> None:
    user = f"system:serviceaccount:{kube.namespace}:default"
    assert not _can_list_siptrunks(kube.api, user, kube.namespace)
    rbac = client.RbacAuthorizationV1Api(kube.api)
    rbac.create_namespaced_role(
        kube.namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="read-trunks"),
            rules=[
                client.V1PolicyRule(
                    api_groups=["switchboard.dev"], resources=["siptrunks"], verbs=["list"]
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        kube.namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="read-trunks"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="read-trunks"
            ),
            subjects=[
                client.RbacV1Subject(
                    kind="ServiceAccount", name="default", namespace=kube.namespace
                )
            ],
        ),
    )
    wait_for(lambda: _can_list_siptrunks(kube.api, user, kube.namespace), "the RoleBinding")


def test_pod_security_admission_rejects_privileged_pod(kube: Kube) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="privileged"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image="busybox",
                    security_context=client.V1SecurityContext(privileged=True),
                )
            ]
        ),
    )
    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_pod(kube.namespace, pod)
    assert caught.value.status == 403
    assert 'violates PodSecurity "restricted:latest"' in rejection(caught.value)


def test_cluster_stops_cleanly_and_restarts_with_its_data(
    kube_cluster: devcluster.Cluster, tmp_path: Path
) -> None:
    """A second, independent cluster: stop keeps etcd data, delete leaves no process behind."""
    other = devcluster.Cluster(name="switchboard-lifecycle", workdir=tmp_path)
    try:
        other.up()
        assert other.kubeconfig != kube_cluster.kubeconfig
        assert set(other.pid_files()) >= {"etcd", "kube-apiserver", "kube-controller-manager"}
        other.kubectl("create", "configmap", "survivor", "-n", "default")
        other.down(delete=False)
        assert other.processes() == {}
        other.up()
        assert "survivor" in other.kubectl("get", "configmap", "survivor", "-n", "default")
    finally:
        other.down(delete=True)
    assert other.processes() == {}
    assert not other.dir.exists()
    assert kube_cluster.is_running()
