"""Golden tests for the pure VoiceAgent builders: agent config, dispatch rule, workload."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.names import Owner
from switchboard.reasons import field_errors
from switchboard.voiceagent.builders import agent_config, dispatch_rule
from switchboard.voiceagent.workload import (
    config_map,
    content_hash,
    deployment,
    pod_disruption_budget,
    worker_secret,
)
from switchboard_contract import AgentConfig

from tests.support.manifests import example_objects

pytestmark = pytest.mark.unit

OWNER = Owner("VoiceAgent", "tel", "front-desk", "uid-9")
SPEC = VoiceAgentSpec.model_validate(
    next(o for f, o in example_objects("VoiceAgent") if f == "voiceagent-local.yaml")["spec"]
)
CLOUD = VoiceAgentSpec.model_validate(
    next(o for f, o in example_objects("VoiceAgent") if "sales" in f)["spec"]
)


def test_agent_config_from_the_local_example() -> None:
    cfg = agent_config("tel", "front-desk", SPEC, None)
    assert isinstance(cfg, AgentConfig)
    wire = json.loads(cfg.model_dump_json())
    assert wire["agentName"] == "tel/front-desk"
    assert wire["voiceAgent"] == {"namespace": "tel", "name": "front-desk"}
    assert wire["maxCallDuration"] == 600 and wire["drainTimeout"] == 630
    assert wire["callsPerWorker"] == 1
    assert wire["pipeline"]["llm"]["script"]["intents"][1]["action"] == {
        "type": "transfer",
        "target": "reception",
    }
    assert wire["transferTargets"] == [{"name": "reception", "uri": "sip:reception@127.0.0.1:5090"}]
    assert wire["telemetry"] == {"otlpEndpoint": None, "samplingRatio": 1.0, "redactPII": True}


def test_agent_config_never_carries_api_key_refs() -> None:
    cfg = agent_config("tel", "sales", CLOUD, "prompt from the ConfigMap")
    text = cfg.model_dump_json()
    assert "apiKeySecretRef" not in text and "voice-providers" not in text
    assert cfg.instructions == "prompt from the ConfigMap"


def test_dispatch_rule_golden() -> None:
    rule = dispatch_rule(OWNER, SPEC, ["ST_b", "ST_a"], pin="")
    assert MessageToDict(rule) == {
        "name": "tel/front-desk/dispatch",
        "metadata": OWNER.metadata("dispatch"),
        "rule": {"dispatchRuleIndividual": {"roomPrefix": "call-"}},
        "trunkIds": ["ST_a", "ST_b"],
        "numbers": ["+15550100100"],
        "attributes": {"switchboard.dev/voiceagent": "tel/front-desk"},
        "hidePhoneNumber": True,
        "roomConfig": {
            "agents": [
                {"agentName": "tel/front-desk", "metadata": '{"voiceAgent": "tel/front-desk"}'}
            ]
        },
    }


def test_dispatch_rule_shows_the_number_only_when_pii_is_not_redacted() -> None:
    """redactPII (the default) hides the caller's number from room names and attributes."""
    assert dispatch_rule(OWNER, SPEC, ["ST_a"]).hide_phone_number is True
    raw = SPEC.model_copy(
        update={"telemetry": SPEC.telemetry.model_copy(update={"redact_pii": False})}
    )
    assert dispatch_rule(OWNER, raw, ["ST_a"]).hide_phone_number is False


@pytest.mark.parametrize(
    ("dispatch", "expected"),
    [
        (
            {"type": "direct", "roomName": "lobby"},
            {"dispatchRuleDirect": {"roomName": "lobby", "pin": "1234"}},
        ),
        (
            {"type": "callee", "roomPrefix": "c-"},
            {"dispatchRuleCallee": {"roomPrefix": "c-", "pin": "1234"}},
        ),
    ],
)
def test_dispatch_rule_types(dispatch: dict[str, str], expected: dict[str, object]) -> None:
    wire = SPEC.to_wire()
    wire["telephony"]["dispatch"] = dispatch
    rule = dispatch_rule(OWNER, VoiceAgentSpec.model_validate(wire), ["ST_a"], pin="1234")
    assert MessageToDict(rule)["rule"] == expected


def _restricted_violations(pod_spec: dict[str, object]) -> list[str]:
    """Pod Security Standards "restricted" checks relevant to what we render."""
    problems = []
    psc = pod_spec.get("securityContext", {})
    assert isinstance(psc, dict)
    if psc.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile")
    for c in pod_spec["containers"]:  # type: ignore[attr-defined]
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{c['name']}: capabilities")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            problems.append(f"{c['name']}: runAsNonRoot")
    return problems


def test_deployment_is_restricted_and_drains_calls() -> None:
    dep = deployment(
        "tel",
        "front-desk",
        SPEC,
        image="ghcr.io/x/agent:1.2",
        replicas=2,
        config_hash="abc",
        report_url="http://op:8090/v1/reports",
    )
    pod = dep["spec"]["template"]["spec"]
    assert _restricted_violations(pod) == []
    assert pod["terminationGracePeriodSeconds"] >= 600  # maxCallDuration 10m
    assert pod["automountServiceAccountToken"] is False
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = dep["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "switchboard"
    assert labels["app.kubernetes.io/version"] == "1.2"
    assert (
        dep["spec"]["selector"]["matchLabels"].items()
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    )
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["SWITCHBOARD_AGENT_CONFIG"]["value"] == "/etc/switchboard/agent-config.json"
    assert env["SWITCHBOARD_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_cloud_keys_come_from_secret_refs_only() -> None:
    dep = deployment(
        "tel", "sales", CLOUD, image="img", replicas=1, config_hash="h", report_url="http://op"
    )
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SWITCHBOARD_SECRET_LLM"]["valueFrom"]["secretKeyRef"] == {
        "name": "voice-providers",
        "key": "openai",
    }
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "1Gi"
    }


def test_pod_template_override_merges() -> None:
    wire = SPEC.to_wire()
    wire["podTemplate"] = {"spec": {"nodeSelector": {"pool": "voice"}, "priorityClassName": "hi"}}
    spec = VoiceAgentSpec.model_validate(wire)
    dep = deployment("tel", "fd", spec, image="i", replicas=1, config_hash="h", report_url="u")
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "voice"} and pod["priorityClassName"] == "hi"
    assert pod["containers"][0]["name"] == "agent"  # untouched parts stay


def test_config_hash_changes_with_config_or_credentials() -> None:
    cfg = agent_config("tel", "front-desk", SPEC, None)
    cm = config_map("tel", "front-desk", cfg)
    s1 = worker_secret("tel", "front-desk", "ws://lk", "k", "s1", "t")
    s2 = worker_secret("tel", "front-desk", "ws://lk", "k", "s2", "t")
    assert content_hash(cm, s1) != content_hash(cm, s2)
    assert content_hash(cm, s1) == content_hash(cm, s1)


def test_pdb_selects_the_workers() -> None:
    pdb = pod_disruption_budget("tel", "front-desk")
    dep = deployment(
        "tel", "front-desk", SPEC, image="i", replicas=1, config_hash="h", report_url="u"
    )
    assert pdb["spec"]["selector"] == dep["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("intent", "message"),
    [
        (
            {"action": {"type": "hangup", "target": "frontdesk"}},
            "spec.pipeline.llm.script.intents[0].action: "
            "Value error, a hangup action takes no target",
        ),
        (
            {"reply": ""},
            "spec.pipeline.llm.script.intents[0].reply: String should have at least 1 character",
        ),
        (
            {"action": {"type": "transfer", "target": "nobody"}},
            "spec: Value error, intent 'asked': unknown transfer target 'nobody'",
        ),
    ],
)
def test_a_spec_the_worker_cannot_run_is_refused_by_the_api_model_naming_the_field(
    intent: dict[str, Any], message: str
) -> None:
    """The worker's own rules hold in the API model (the CRD says the same in CEL), so
    agent_config never meets them; the message says where."""
    spec = {
        "greeting": "Hi",
        "pipeline": {
            "stt": {"provider": "pocketsphinx"},
            "tts": {"provider": "flite"},
            "llm": {
                "provider": "scripted",
                "script": {
                    "intents": [
                        {"name": "asked", "keywords": ["hours"], "reply": "Nine to five.", **intent}
                    ]
                },
            },
        },
    }
    with pytest.raises(ValidationError) as err:
        VoiceAgentSpec.model_validate(spec)
    assert field_errors(err.value) == message
