"""The chart on the real control plane: strict dry-run, helm install under PSA, `auth can-i`."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devstack import kube as devkube
from devstack import tools
from devstack.tools import REPO
from tests.support.kube import Kube, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

CHART = REPO / "charts" / "switchboard"
LIVEKIT = ("livekit.url=ws://127.0.0.1:7880", "livekit.apiKey=key", "livekit.apiSecret=secret")
MODES = ("cluster", "namespace")


def release_name(mode: str) -> str:
    return f"sb-{mode[:2]}-{uuid.uuid4().hex[:5]}"


def values(mode: str) -> list[str]:
    return [f"watchScope={mode}", *LIVEKIT]


def _strict_dry_run(kube: Kube, manifests: str) -> str:
    """`kubectl apply --dry-run=server --validate=strict` of `manifests` in the namespace."""
    args = ["apply", "--dry-run=server", "--validate=strict", "-n", kube.namespace, "-f", "-"]
    return devkube.kubectl(kube.kubeconfig, *args, stdin=manifests)


def test_rendered_chart_passes_strict_server_side_dry_run(kube: Kube, chart_crds: list) -> None:
    """Every object of both modes (and every optional one with a served kind) is accepted."""
    for mode in MODES:
        docs = devkube.render_chart(
            release_name(mode),
            kube.namespace,
            *values(mode),
            "replicaCount=2",
            "monitoring.dashboard.enabled=true",
        )
        kinds = {d["kind"] for d in docs}
        assert {"Deployment", "Service", "ServiceAccount", "Secret", "ConfigMap"} <= kinds
        out = _strict_dry_run(kube, yaml.safe_dump_all(docs))
        assert out.count("(server dry run)") == len(docs), out


def test_strict_dry_run_rejects_an_unknown_field(kube: Kube, chart_crds: list) -> None:
    """The check above is strict: a misspelt field in a rendered object fails it."""
    docs = devkube.render_chart(release_name("cluster"), kube.namespace, *LIVEKIT)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(devkube.KubeError, match="livenessProbes"):
        _strict_dry_run(kube, yaml.safe_dump(dep))


@dataclass
class Release:
    name: str
    namespace: str
    mode: str
    kubeconfig: Path

    @property
    def sa(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}-switchboard-operator"

    def can(self, verb: str, resource: str, *extra: str, namespace: str | None = None) -> bool:
        """`kubectl auth can-i ... --as=<the operator's ServiceAccount>`."""
        args = [
            str(tools.kubectl()),
            "--kubeconfig",
            str(self.kubeconfig),
            "auth",
            "can-i",
            verb,
            resource,
            f"--as={self.sa}",
            *extra,
        ]
        if "--all-namespaces" not in extra and "-n" not in extra:
            args += ["-n", namespace or self.namespace]
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        answer = done.stdout.strip()
        if answer not in ("yes", "no"):
            pytest.fail(f"can-i {verb} {resource}: {done.stderr}", pytrace=False)
        return answer == "yes"


@contextlib.contextmanager
def installed(kube: Kube, mode: str, *extra: str) -> Iterator[Release]:
    rel = Release(release_name(mode), kube.namespace, mode, kube.kubeconfig)
    args = ["install", rel.name, str(CHART), "--namespace", kube.namespace]
    for value in [*values(mode), *extra]:
        args += ["--set", value]
    devkube.helm(kube.kubeconfig, *args, timeout=180)
    try:
        yield rel
    finally:
        # cluster-scoped objects (ClusterRole, ClusterKopfPeering) outlive the namespace
        devkube.helm(kube.kubeconfig, "uninstall", rel.name, "--namespace", kube.namespace)


def operator_pods(kube: Kube, release: str) -> list:
    pods = kube.core.list_namespaced_pod(
        kube.namespace, label_selector=f"app.kubernetes.io/instance={release}"
    )
    return list(pods.items)


def admission_failures(kube: Kube) -> str:
    events = kube.core.list_namespaced_event(kube.namespace).items
    return "; ".join(e.message for e in events if e.reason == "FailedCreate")


@pytest.mark.parametrize("mode", MODES)
def test_helm_install_under_psa_restricted(kube: Kube, chart_crds: list, mode: str) -> None:
    ns = kube.core.read_namespace(kube.namespace)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    with installed(kube, mode, "replicaCount=2") as rel:

        def running() -> bool:
            if failures := admission_failures(kube):
                pytest.fail(f"pod rejected: {failures}", pytrace=False)
            pods = operator_pods(kube, rel.name)
            return len(pods) == 2 and all(p.status.phase == "Running" for p in pods)

        wait_for(running, "2 operator pods admitted and Running (kwok node)", timeout=120)
        (dep,) = kube.apps.list_namespaced_deployment(
            kube.namespace, label_selector=f"app.kubernetes.io/instance={rel.name}"
        ).items
        assert dep.spec.template.spec.service_account_name == rel.sa.rsplit(":", 1)[1]
        secret = kube.core.read_namespaced_secret(
            f"{rel.name}-switchboard-report-key", kube.namespace
        )
        key = secret.data["reportKey"]
        kind = "ClusterKopfPeering" if mode == "cluster" else "KopfPeering"
        peering = devkube.kubectl(kube.kubeconfig, "get", kind.lower(), "-A", "-o", "json")
        assert rel.name + "-switchboard" in json.dumps(json.loads(peering)["items"])
        # an upgrade keeps the generated report key (workers' tokens stay valid)
        devkube.helm(
            kube.kubeconfig,
            "upgrade",
            rel.name,
            str(CHART),
            "-n",
            kube.namespace,
            "--reuse-values",
            "--set",
            "replicaCount=1",
        )
        again = kube.core.read_namespaced_secret(
            f"{rel.name}-switchboard-report-key", kube.namespace
        )
        assert again.data["reportKey"] == key


CLUSTER_CAN = [
    ("list", "secrets", "--all-namespaces"),
    ("watch", "pods", "--all-namespaces"),
    ("patch", "voiceagents.switchboard.dev", "-n", "default"),
    ("patch", "voiceagents.switchboard.dev", "--subresource=status", "-n", "default"),
    ("patch", "siptrunks.switchboard.dev", "--subresource=status", "-n", "default"),
    ("patch", "deployments.apps", "--subresource=scale", "-n", "default"),
    ("get", "deployments.apps", "-n", "default"),
    ("patch", "pods", "-n", "default"),
    ("create", "events", "-n", "default"),
    ("create", "poddisruptionbudgets.policy", "-n", "default"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
NEVER = [
    ("delete", "secrets"),
    ("create", "pods", "--subresource=exec"),
    ("get", "pods", "--subresource=log"),
    ("create", "pods"),
    ("delete", "pods"),
    ("create", "serviceaccounts", "--subresource=token"),
    ("delete", "voiceagents.switchboard.dev"),
    ("update", "secrets"),
    ("list", "nodes"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
]


def check(
    rel: Release, cases: list[tuple[str, ...]], expected: bool, ns: str | None = None
) -> None:
    wrong = [" ".join(c) for c in cases if rel.can(*c[:2], *c[2:], namespace=ns) != expected]
    assert not wrong, f"{rel.mode} mode: expected {'yes' if expected else 'no'} for {wrong}"


def test_rbac_cluster_mode(kube: Kube, chart_crds: list) -> None:
    with installed(kube, "cluster") as rel:
        check(rel, CLUSTER_CAN, True)
        check(rel, NEVER, False, ns="default")
        check(rel, NEVER, False)
        peering = f"clusterkopfpeerings.kopf.dev/{rel.name}-switchboard"
        assert rel.can("patch", peering)
        assert not rel.can("patch", "clusterkopfpeerings.kopf.dev/someone-else")


def test_rbac_namespace_mode(kube: Kube, chart_crds: list) -> None:
    with installed(kube, "namespace") as rel:
        own = [
            c[:2] + tuple(a for a in c[2:] if a not in ("-n", "default", "--all-namespaces"))
            for c in CLUSTER_CAN
            if "customresourcedefinitions" not in c[1]
        ]
        check(rel, own, True)
        assert rel.can("patch", f"kopfpeerings.kopf.dev/{rel.name}-switchboard")
        # nothing outside its namespace, nothing cluster-wide
        outside = [
            ("get", "secrets"),
            ("list", "secrets"),
            ("watch", "pods"),
            ("patch", "voiceagents.switchboard.dev"),
            ("create", "events"),
        ]
        check(rel, outside, False, ns="default")
        assert not rel.can("list", "secrets", "--all-namespaces")
        assert not rel.can("list", "customresourcedefinitions.apiextensions.k8s.io")
        assert not rel.can("patch", "clusterkopfpeerings.kopf.dev/x")
        check(rel, NEVER, False)


def test_psa_restricted_is_enforced_on_the_operator_pod(kube: Kube, chart_crds: list) -> None:
    """Control: the namespace really rejects the operator pod once one restriction is dropped."""
    docs = devkube.render_chart(release_name("cluster"), kube.namespace, *LIVEKIT)
    template = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-control"},
        "spec": template["spec"],
    }
    del pod["spec"]["serviceAccountName"]  # not installed here; PSA does not look at it
    dry_run = ("apply", "--dry-run=server", "-n", kube.namespace, "-f", "-")
    devkube.kubectl(kube.kubeconfig, *dry_run, stdin=yaml.safe_dump(pod))  # as rendered: admitted
    del pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    with pytest.raises(devkube.KubeError, match="PodSecurity"):
        devkube.kubectl(kube.kubeconfig, *dry_run, stdin=yaml.safe_dump(pod))
