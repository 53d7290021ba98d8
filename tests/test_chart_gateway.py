"""unit tier (helm template): the chart's media-stream gateway behind gateway.enabled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import kube as devkube
from tests.support.chart import by_kind, render
from tests.test_chart_static import LIVEKIT, restricted_violations

pytestmark = pytest.mark.unit

GATEWAY = (
    "gateway.enabled=true",
    "gateway.publicUrl=https://voice.example.test",
)


def named(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def test_gateway_is_off_by_default(helm: Path) -> None:
    docs = render(*LIVEKIT)
    assert not [d for d in docs if d["metadata"]["name"].endswith("-gateway")]


def test_gateway_deployment_service_and_routes(helm: Path) -> None:
    docs = render(
        *LIVEKIT,
        *GATEWAY,
        "gateway.ingress.enabled=true",
        "gateway.ingress.host=voice.example.test",
        "gateway.trustedProxies={10.244.0.0/16}",
        "gateway.webLivekitUrl=wss://lk.example.test",
        release="sb",
        ns="voice",
    )
    dep = named(docs, "Deployment", "sb-switchboard-gateway")
    pod = dep["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/switchboard-dev/switchboard-gateway:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["SWITCHBOARD_GATEWAY_PUBLIC_URL"] == "https://voice.example.test"
    assert env["LIVEKIT_URL"]["secretKeyRef"] == {"name": "sb-switchboard-livekit", "key": "url"}
    assert env["SWITCHBOARD_PII_ROOT_KEY"]["secretKeyRef"]["name"] == "sb-switchboard-pii-root-key"
    assert env["SWITCHBOARD_GATEWAY_STREAM_KEY"]["secretKeyRef"]["name"] == (
        "sb-switchboard-gateway-stream-key"
    )
    # routes come from the operator: the Secret it publishes to is the one the gateway mounts
    settings = json.loads(named(docs, "ConfigMap", "sb-switchboard-gateway")["data"]["routes.json"])
    assert settings == {"idleTimeout": 10, "webTrustedProxies": ["10.244.0.0/16"]}
    assert env["SWITCHBOARD_GATEWAY_WEB_LIVEKIT_URL"] == "wss://lk.example.test"
    (routes,) = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert routes == {"secretName": "sb-switchboard-gateway-routes", "optional": True}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[env["SWITCHBOARD_GATEWAY_ROUTES_DIR"]]["readOnly"] is True
    operator = named(docs, "Deployment", "sb-switchboard-operator")
    (op,) = operator["spec"]["template"]["spec"]["containers"]
    op_env = {e["name"]: e.get("value") for e in op["env"]}
    assert op_env["SWITCHBOARD_GATEWAY_ROUTES_SECRET"] == "voice/sb-switchboard-gateway-routes"
    assert op_env["SWITCHBOARD_GATEWAY_PUBLIC_URL"] == "https://voice.example.test"
    # its Service selects the gateway pods and the operator's Service does not
    svc = named(docs, "Service", "sb-switchboard-gateway")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    operator_svc = named(docs, "Service", "sb-switchboard-operator")
    assert not operator_svc["spec"]["selector"].items() <= labels.items()
    assert {p["name"] for p in svc["spec"]["ports"]} == {"http", "metrics"}
    ingress = named(docs, "Ingress", "sb-switchboard-gateway")
    assert ingress["spec"]["rules"][0]["host"] == "voice.example.test"
    paths = {p["path"]: p["pathType"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/v1/": "Prefix", "/widget.js": "Exact", "/demo/": "Prefix"}


def test_gateway_needs_a_public_url(helm: Path) -> None:
    with pytest.raises(devkube.KubeError, match=r"gateway\.publicUrl is required"):
        render(*LIVEKIT, "gateway.enabled=true")
