"""What the worker and LiveKit are told: a spec -> the rendered AgentConfig and the dispatch rule.

Pure (no I/O); the Kubernetes objects that carry the config are workload.py's concern.
"""

from __future__ import annotations

import json

from livekit import api
from switchboard_contract import AgentConfig
from switchboard_contract.pricing import Pricing

from switchboard.api.common import parse_duration
from switchboard.api.voiceagent import Dispatch, VoiceAgentSpec
from switchboard.names import Owner, default_agent_name

DISPATCH = "dispatch"
DEFAULT_INSTRUCTIONS = "You are a helpful, concise voice assistant on a phone call."
# Drift is judged on these fields only; IDs and timestamps belong to LiveKit.
DISPATCH_FIELDS = (
    "name",
    "metadata",
    "rule",
    "trunk_ids",
    "numbers",
    "room_config",
    "attributes",
    "hide_phone_number",
)
# Grace beyond maxCallDuration for the worker to hang up and flush traces.
DRAIN_MARGIN_S = 30


def agent_name(namespace: str, name: str, spec: VoiceAgentSpec) -> str:
    return spec.agent_name or default_agent_name(namespace, name)


def max_call_seconds(spec: VoiceAgentSpec) -> int:
    duration = spec.telephony.max_call_duration if spec.telephony else "1h"
    return max(1, int(parse_duration(duration).total_seconds()))


# Where an AgentConfig field comes from in the VoiceAgent spec, when not at the same path.
SPEC_PATH_OF_CONFIG = {
    "transferTargets": "telephony.transferTargets",
    "maxCallDuration": "telephony.maxCallDuration",
    "drainTimeout": "telephony.maxCallDuration",
    "callsPerWorker": "scaling.callsPerWorker",
}


def agent_config(
    namespace: str,
    name: str,
    spec: VoiceAgentSpec,
    instructions: str | None,
    pricing: Pricing | None = None,
) -> AgentConfig:
    """The contract object the worker reads; instructions come resolved (ConfigMap or inline).
    `pricing` is the operator's table; the spec's entries go on top of it."""
    wire = spec.to_wire()
    max_call = max_call_seconds(spec)
    pipeline = wire.get("pipeline")
    if pipeline:
        # API keys reach the worker as env vars, never in the rendered config.
        pipeline = {
            stage: {k: v for k, v in cfg.items() if k != "apiKeySecretRef"}
            for stage, cfg in pipeline.items()
        }
    realtime = wire.get("realtime")
    if realtime:
        realtime = {k: v for k, v in realtime.items() if k != "apiKeySecretRef"}
    telephony = wire.get("telephony") or {}
    return AgentConfig.model_validate(
        {
            "agentName": agent_name(namespace, name, spec),
            "voiceAgent": {"namespace": namespace, "name": name},
            "instructions": instructions or spec.instructions or DEFAULT_INSTRUCTIONS,
            "greeting": spec.greeting,
            "pipeline": pipeline,
            "realtime": realtime,
            "transferTargets": telephony.get("transferTargets", []),
            "maxCallDuration": max_call,
            "callsPerWorker": spec.scaling.calls_per_worker,
            "drainTimeout": max_call + DRAIN_MARGIN_S,
            "telemetry": wire["telemetry"],
            "pricing": _pricing(pricing, spec.pricing),
        }
    )


def _pricing(operator: Pricing | None, spec: Pricing | None) -> dict[str, object] | None:
    if operator is None and spec is None:
        return None  # the worker's shipped table as is
    merged = (operator or Pricing()).merged(spec)
    return merged.model_dump(mode="json")


def _rule(dispatch: Dispatch, pin: str) -> api.SIPDispatchRule:
    if dispatch.type == "direct":
        return api.SIPDispatchRule(
            dispatch_rule_direct=api.SIPDispatchRuleDirect(
                room_name=dispatch.room_name or "", pin=pin
            )
        )
    if dispatch.type == "callee":
        return api.SIPDispatchRule(
            dispatch_rule_callee=api.SIPDispatchRuleCallee(
                room_prefix=dispatch.room_prefix, pin=pin, randomize=False
            )
        )
    return api.SIPDispatchRule(
        dispatch_rule_individual=api.SIPDispatchRuleIndividual(
            room_prefix=dispatch.room_prefix, pin=pin
        )
    )


def dispatch_rule(
    owner: Owner, spec: VoiceAgentSpec, trunk_ids: list[str], pin: str = ""
) -> api.SIPDispatchRuleInfo:
    """One rule per VoiceAgent: its trunks and numbers -> a room that dispatches the agent."""
    assert spec.telephony is not None, "only VoiceAgents with telephony get a dispatch rule"
    telephony = spec.telephony
    name = agent_name(owner.namespace, owner.name, spec)
    ref = f"{owner.namespace}/{owner.name}"
    return api.SIPDispatchRuleInfo(
        name=owner.livekit_name(DISPATCH),
        metadata=owner.metadata(DISPATCH),
        rule=_rule(telephony.dispatch, pin),
        trunk_ids=sorted(trunk_ids),
        numbers=sorted(telephony.numbers),
        attributes={"switchboard.dev/voiceagent": ref},
        # redactPII: livekit-sip then keeps the caller's number out of the room name, the
        # participant identity and attributes, so no log line downstream can carry it
        hide_phone_number=spec.telemetry.redact_pii,
        room_config=api.RoomConfiguration(
            agents=[
                api.RoomAgentDispatch(
                    agent_name=name, metadata=json.dumps({"voiceAgent": ref}, sort_keys=True)
                )
            ]
        ),
    )
