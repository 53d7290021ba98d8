"""The Helm chart without a cluster: lint, CRD copy, values schema, rendered pods, RBAC shape."""

from __future__ import annotations

import base64
import filecmp
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import kube as devkube
from devstack.tools import REPO
from tests.support.chart import by_kind, env_of, render

pytestmark = pytest.mark.unit

CHART = REPO / "charts" / "switchboard"
LIVEKIT = ("livekit.url=wss://lk.example.test", "livekit.apiKey=k", "livekit.apiSecret=s")
MODES = {"cluster": ("watchScope=cluster",), "namespace": ("watchScope=namespace",)}
# Verbs and resources the operator must never hold, in either mode.
FORBIDDEN = {
    ("", "pods/exec"),
    ("", "pods/attach"),
    ("", "pods/portforward"),
    ("", "pods/log"),
    ("", "serviceaccounts/token"),
    ("", "nodes"),
    ("", "namespaces"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("rbac.authorization.k8s.io", "rolebindings"),
}


def pod_specs(docs: list[dict]) -> list[dict]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment",)]


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Pod Security Standards "restricted" (v1.25+), the checks that apply to a pod spec."""
    out = []
    psc = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            out.append(flag)
    for vol in spec.get("volumes") or []:
        allowed = {
            "name",
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret",
        }
        if set(vol) - allowed:
            out.append(f"volume {vol['name']}: {sorted(set(vol) - allowed)}")
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        csc = c.get("securityContext") or {}
        if csc.get("privileged"):
            out.append(f"{c['name']}: privileged")
        if csc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{c['name']}: allowPrivilegeEscalation must be false")
        if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            out.append(f"{c['name']}: runAsNonRoot")
        if 0 in (csc.get("runAsUser"), psc.get("runAsUser")):
            out.append(f"{c['name']}: runAsUser 0")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccompProfile {seccomp}")
        caps = csc.get("capabilities") or {}
        if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{c['name']}: capabilities {caps}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            out.append(f"{c['name']}: hostPort")
    return out


def rules(docs: list[dict]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(role kind, apiGroup, resource, resourceNames) per verb, flattened."""
    out = []
    for role in [*by_kind(docs, "ClusterRole"), *by_kind(docs, "Role")]:
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.append(
                            (
                                role["kind"],
                                group,
                                f"{res}:{verb}",
                                tuple(rule.get("resourceNames", [])),
                            )
                        )
    return out


def test_helm_lint_strict(helm: Path) -> None:
    for values in [(), MODES["namespace"] + LIVEKIT, ("replicaCount=2",)]:
        args = [str(helm), "lint", "--strict", str(CHART)]
        for v in values:
            args += ["--set", v]
        out = devkube.run(args, None)
        assert "0 chart(s) failed" in out, out


def test_chart_crds_are_a_copy_of_crds() -> None:
    ours, chart = REPO / "crds", CHART / "crds"
    cmp = filecmp.dircmp(ours, chart)
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in chart.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(ours, chart, cmp.common_files, shallow=False)
    assert not mismatch and not errors, f"run `make chart-crds`: {mismatch or errors} differ"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("watchScope=everywhere",), "watchScope"),
        (("replicaCount=-1",), "replicaCount"),
        (("replicaCnt=2",), "replicaCnt"),
        (("image.digest=latest",), "digest"),
        (("logging.level=loud",), "level"),
        (("resyncPeriod=soon",), "resyncPeriod"),
        (("livekit.url=localhost:7880",), "url"),
        (("replicaCount=2", "peering.enabled=false"), "peering.enabled"),
        (("livekit.url=ws://x",), "apiKey"),
        (("tenancy.mode=separate",), "mode"),
        (("tenancy.defaultLiveKitNamespaces={Bad_NS}",), "defaultLiveKitNamespaces"),
    ],
)
def test_values_are_validated(helm: Path, values: tuple[str, ...], message: str) -> None:
    with pytest.raises(devkube.KubeError, match=message):
        render(*values)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_pod_is_restricted(helm: Path, mode: str) -> None:
    docs = render(*MODES[mode], *LIVEKIT, "replicaCount=2", "monitoring.dashboard.enabled=true")
    specs = pod_specs(docs)
    assert specs
    for spec in specs:
        assert restricted_violations(spec) == []
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_restricted_checker_catches_violations() -> None:
    spec = {"containers": [{"name": "c", "securityContext": {}}], "hostNetwork": True}
    found = restricted_violations(spec)
    assert "hostNetwork" in found and any("allowPrivilegeEscalation" in v for v in found)


def test_operator_deployment_contract(helm: Path) -> None:
    docs = render(*LIVEKIT, release="sb", ns="voice")
    (dep,) = by_kind(docs, "Deployment")
    (svc,) = by_kind(docs, "Service")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert "--all-namespaces" in container["args"]
    assert "--peering=sb-switchboard" in container["args"]
    env = env_of(docs)
    # Workers reach the report endpoint through the Service, by in-cluster DNS.
    port = svc["spec"]["ports"][0]["port"]
    assert port == 8090
    assert (
        env["SWITCHBOARD_REPORT_URL"]
        == f"http://{svc['metadata']['name']}.voice.svc:8090/v1/reports"
    )
    assert env["SWITCHBOARD_REPORT_LISTEN"] == "0.0.0.0:8090"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert env["SWITCHBOARD_REPORT_KEY"]["secretKeyRef"]["name"] == "sb-switchboard-report-key"
    assert env["LIVEKIT_URL"]["secretKeyRef"] == {"name": "sb-switchboard-livekit", "key": "url"}
    assert env["SWITCHBOARD_AGENT_IMAGE"] == "ghcr.io/switchboard-dev/switchboard-agent:0.1.0"
    (secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("livekit")]
    assert secret["stringData"] == {"url": "wss://lk.example.test", "apiKey": "k", "apiSecret": "s"}


def test_existing_livekit_secret_and_namespace_mode(helm: Path) -> None:
    docs = render(
        "watchScope=namespace",
        "livekit.existingSecret=lk",
        "peering.enabled=false",
        "reportKey.existingSecret=rk",
        "piiRootKey.existingSecret=pk",
        ns="team",
    )
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--namespace=team" in container["args"] and "--standalone" in container["args"]
    assert "--all-namespaces" not in container["args"]
    assert by_kind(docs, "Deployment")[0]["spec"]["strategy"]["type"] == "Recreate"
    env = env_of(docs)
    assert env["LIVEKIT_API_SECRET"]["secretKeyRef"] == {"name": "lk", "key": "apiSecret"}
    assert env["SWITCHBOARD_REPORT_KEY"]["secretKeyRef"]["name"] == "rk"
    assert env["SWITCHBOARD_PII_ROOT_KEY"]["secretKeyRef"]["name"] == "pk"
    assert by_kind(docs, "Secret") == []  # nothing generated: every Secret is the user's


def test_generated_keys_are_separate_and_never_the_livekit_secret(helm: Path) -> None:
    """Failed before: no PII key at all (workers keyed caller hashes with the LiveKit secret)."""
    docs = render("livekit.url=ws://lk:7880", "livekit.apiKey=k", "livekit.apiSecret=s")
    env = env_of(docs)
    report = env["SWITCHBOARD_REPORT_KEY"]["secretKeyRef"]
    pii = env["SWITCHBOARD_PII_ROOT_KEY"]["secretKeyRef"]
    assert report["name"] != pii["name"]
    generated = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    assert {report["name"], pii["name"]} <= set(generated)
    values = [generated[report["name"]]["data"][report["key"]]]
    values.append(generated[pii["name"]]["data"][pii["key"]])
    assert len(set(values)) == 2 and base64.b64encode(b"s").decode() not in values


def test_tenancy_isolated_names_the_allowed_namespaces(helm: Path) -> None:
    env = env_of(render("tenancy.mode=isolated", "tenancy.defaultLiveKitNamespaces={ops,voice}"))
    assert env["SWITCHBOARD_TENANCY"] == "isolated"
    assert env["SWITCHBOARD_DEFAULT_LIVEKIT_NAMESPACES"] == "ops,voice"
    shared = env_of(render())
    assert shared["SWITCHBOARD_TENANCY"] == "shared"
    assert "SWITCHBOARD_DEFAULT_LIVEKIT_NAMESPACES" not in shared


def test_image_digest_wins(helm: Path) -> None:
    digest = "sha256:" + "a" * 64
    docs = render(f"image.digest={digest}", f"agentImage.digest={digest}")
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/switchboard-dev/switchboard-operator@{digest}"
    assert env_of(docs)["SWITCHBOARD_AGENT_IMAGE"].endswith(f"switchboard-agent@{digest}")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_rbac_is_least_privilege(helm: Path, mode: str) -> None:
    docs = render(*MODES[mode])
    flat = rules(docs)
    verbs = {(g, rv.split(":")[0], rv.split(":")[1]) for _, g, rv, _ in flat}
    assert all("*" not in part for v in verbs for part in v), "no wildcards"
    assert not [
        v
        for v in verbs
        if v[2] in ("delete", "deletecollection", "escalate", "bind", "impersonate")
    ]
    assert not {(g, r) for g, r, _ in verbs} & FORBIDDEN
    needed = {
        ("switchboard.dev", "voiceagents/status", "patch"),
        ("", "secrets", "watch"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "deployments", "get"),
        ("", "events", "create"),
        ("", "pods", "patch"),
        ("policy", "poddisruptionbudgets", "patch"),
    }
    assert needed <= verbs
    kinds = {d["kind"] for d in docs}
    if mode == "namespace":
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "nothing outside the namespace"
        assert {"Role", "RoleBinding"} <= kinds
    else:
        assert not kinds & {"Role", "RoleBinding"}
    # The peering object is the only one the operator may write of its kind.
    peering = [(rv, names) for _, g, rv, names in flat if g == "kopf.dev"]
    assert all(names for rv, names in peering if rv.endswith((":patch", ":get")))


def test_peering_object_matches_scope(helm: Path) -> None:
    cluster = by_kind(render(), "ClusterKopfPeering")
    assert [p["metadata"]["name"] for p in cluster] == ["switchboard"]
    namespaced = by_kind(render("watchScope=namespace", ns="team"), "KopfPeering")
    assert [(p["metadata"]["name"], p["metadata"]["namespace"]) for p in namespaced] == [
        ("switchboard", "team")
    ]
    assert by_kind(render("peering.enabled=false"), "ClusterKopfPeering") == []


def test_peering_crds_come_from_the_subchart(helm: Path) -> None:
    docs = devkube.render_chart("switchboard", "switchboard", crds=True)
    crds = sorted(d["metadata"]["name"] for d in by_kind(docs, "CustomResourceDefinition"))
    ours = [
        "callcampaigns.switchboard.dev",
        "outboundcalls.switchboard.dev",
        "siptrunks.switchboard.dev",
        "voiceagents.switchboard.dev",
    ]
    assert crds == sorted(["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", *ours])
    docs = devkube.render_chart(
        "switchboard", "switchboard", "peering.installCRDs=false", crds=True
    )
    assert sorted(d["metadata"]["name"] for d in by_kind(docs, "CustomResourceDefinition")) == ours


def test_values_yaml_is_valid_against_its_schema() -> None:
    import jsonschema  # noqa: PLC0415

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
