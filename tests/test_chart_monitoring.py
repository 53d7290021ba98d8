"""The chart's monitoring: ServiceMonitor for the operator, PodMonitor for workers, dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.startup import build_state
from switchboard_contract.analytics import LATENCY_STAGES, CallSummary

from devstack.tools import REPO
from tests.support.chart import by_kind, env_of, render

pytestmark = pytest.mark.unit

DASHBOARD = REPO / "charts" / "switchboard" / "dashboards" / "switchboard.json"


def test_monitoring_objects(helm: Path) -> None:
    assert not {"PodMonitor", "ConfigMap"} & {d["kind"] for d in render()}
    docs = render("monitoring.podMonitor.enabled=true", "monitoring.dashboard.enabled=true")
    (pm,) = by_kind(docs, "PodMonitor")
    assert pm["spec"]["namespaceSelector"] == {"any": True}
    assert pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "agent-worker"
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    (cm,) = by_kind(docs, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["switchboard.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert any("switchboard_agent_active_calls" in e for e in exprs)
    ns_docs = render("watchScope=namespace", "monitoring.podMonitor.enabled=true", ns="team")
    assert by_kind(ns_docs, "PodMonitor")[0]["spec"]["namespaceSelector"] == {
        "matchNames": ["team"]
    }


def test_podmonitor_selects_the_worker_pods(helm: Path) -> None:
    """The PodMonitor's selector and port name match what the operator puts on worker pods."""
    from switchboard.api.voiceagent import VoiceAgent  # noqa: PLC0415
    from switchboard.voiceagent import workload  # noqa: PLC0415

    example = yaml.safe_load((REPO / "examples" / "voiceagent-local.yaml").read_text())
    spec = VoiceAgent.model_validate({**example, "metadata": {"name": "x", "namespace": "n"}}).spec
    dep = workload.deployment(
        "n", "front-desk", spec, image="img:1", replicas=1, config_hash="h", report_url="http://r"
    )
    pod = dep["spec"]["template"]
    (pm,) = by_kind(render("monitoring.podMonitor.enabled=true"), "PodMonitor")
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] in ports
    assert pm["spec"]["podTargetLabels"][0] in pod["metadata"]["labels"]


def test_servicemonitor_scrapes_the_operator_metrics_port(helm: Path) -> None:
    assert not by_kind(render(), "ServiceMonitor")
    docs = render("monitoring.serviceMonitor.enabled=true", "metrics.port=9999")
    (sm,) = by_kind(docs, "ServiceMonitor")
    (svc,) = by_kind(docs, "Service")
    (dep,) = by_kind(docs, "Deployment")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    svc_port = next(p for p in svc["spec"]["ports"] if p["name"] == endpoint["port"])
    container = dep["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[svc_port["targetPort"]] == svc_port["port"] == 9999
    assert endpoint["path"] == "/metrics" and endpoint["honorLabels"] is True
    # the operator binds where the Service points
    cfg = OperatorConfig.from_env(
        {"SWITCHBOARD_METRICS_LISTEN": env_of(docs)["SWITCHBOARD_METRICS_LISTEN"]}
    )
    assert cfg.metrics_port == 9999


def _exported_names() -> set[str]:
    """Every metric family the operator and the agent worker can export."""
    from prometheus_client import REGISTRY  # noqa: PLC0415
    from switchboard_agent import capacity  # noqa: F401, PLC0415  (registers the agent's)

    state, fleets = build_state(OperatorConfig())
    state.client(LiveKitEndpoint("http://lk", "k", "s")).calls["ListSIPDispatchRule"] += 1
    fleet = fleets.get("ns", "va")
    fleet.last_status = {"activeCalls": 0, "workers": {}}
    state.metrics.calls.observe(ended_call())  # labelled families export once they have one
    names = set()
    for registry in (state.metrics.registry, REGISTRY):
        for family in registry.collect():
            names |= {s.name for s in family.samples}
    return names


def ended_call() -> CallSummary:
    """A call summary with every stage timed, as a worker sends it at call end."""
    stats = {"p50": 1.0, "max": 1.0, "n": 1}
    return CallSummary.model_validate(
        {
            "namespace": "ns",
            "voiceAgent": "va",
            "jobId": "AJ_1",
            "channel": "sip",
            "result": "completed",
            "startedAt": 0.0,
            "durationS": 60.0,
            "turns": 1,
            "interruptions": 0,
            "latency": dict.fromkeys(LATENCY_STAGES, stats),
            "usage": {},
            "priced": {"stt": "deepgram", "llm": "openai", "tts": "cartesia"},
            "cost": {"stt": 0.01, "llm": 0.01, "tts": 0.01, "telephony": 0.01, "total": 0.04},
        },
        strict=False,
    )


def test_dashboard_queries_only_exported_switchboard_metrics() -> None:
    """A renamed metric must not leave a silently empty panel behind."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(switchboard_[a-z_]+)\s*[{\[]", e)}
    assert {
        "switchboard_scaling_decision_seconds_bucket",
        "switchboard_voiceagent_workers",
        "switchboard_agent_active_calls",
        "switchboard_call_voice_to_voice_seconds_bucket",
        "switchboard_call_stage_seconds_bucket",
        "switchboard_call_cost_usd_total",
        "switchboard_call_minutes_total",
        "switchboard_calls_total",
    } <= used
    missing = used - _exported_names()
    assert not missing, missing
