"""A phone call's summary: on the root span, in the VoiceAgent's status, call log and metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from devstack.sipua.audio import flite_prompt, next_utterance
from devstack.sipua.dialog import ask
from devstack.sipua.ua import SipUA
from tests.support.agent_otlp import OtlpReceiver
from tests.support.kube import wait_for
from tests.support.sip_stack import CALLER, QUESTION, SipStack, sip_trunk, voice_agent
from tests.support.voiceagent_stack import NUMBER

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]

# the offline providers priced as if hosted, so every part of the cost is exercised
PRICING = {
    "stt": {"pocketsphinx": 0.006},
    "llm": {"scripted": {"input": 1.0, "output": 4.0}},
    "tts": {"flite": 30.0},
    "telephony": {"sip": 0.01},
}


def call_log(stack: SipStack) -> list[dict[str, Any]] | None:
    try:
        cm = stack.kube.core.read_namespaced_config_map("desk-calls", stack.kube.namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return [json.loads(line) for line in (cm.data or {}).get("calls.jsonl", "").splitlines()]


async def test_a_phone_call_ends_in_one_summary_everywhere(
    sip_stack: SipStack, sip_ua: SipUA, otlp: OtlpReceiver
) -> None:
    agent = voice_agent(otlp=otlp.endpoint)
    agent["spec"]["pricing"] = PRICING
    sip_stack.apply(sip_trunk(), agent)
    sip_stack.start_worker()
    call = await sip_ua.invite(sip_stack.bridge.uri(NUMBER), caller=CALLER)
    await next_utterance(call.rtp, call.answered_at, 60, call.ended)  # the greeting
    await ask(call, flite_prompt(QUESTION), lambda _: True, tries=1)
    assert await call.bye() == 200

    [root] = await otlp.roots(60)
    attrs = {k.removeprefix("switchboard.call."): v for k, v in root.attributes.items()}
    assert attrs["result"] == "caller-hangup"
    assert attrs["turns"] >= 2  # the greeting and the answer
    assert attrs["duration_s"] > 3
    # usage as the session counted it: the caller's audio, the prompt, the agent's words
    assert attrs["usage.stt_audio_s"] > 0.5
    assert attrs["usage.llm_input_tokens"] > 0 and attrs["usage.llm_output_tokens"] > 0
    assert attrs["usage.tts_characters"] > 20
    assert attrs["cost.stt_usd"] == round(attrs["usage.stt_audio_s"] / 60 * 0.006, 6)
    assert attrs["cost.tts_usd"] == round(attrs["usage.tts_characters"] * 30.0 / 1e6, 6)
    parts = sum(attrs[f"cost.{p}_usd"] for p in ("stt", "llm", "tts", "telephony"))
    assert attrs["cost.total_usd"] == pytest.approx(parts, abs=1e-6)
    assert attrs["latency.e2e_latency.p50_s"] > 0

    # the operator: the status window, the call log, the metrics; the same call in each
    calls = wait_for(lambda: sip_stack.status().get("calls"), "status.calls")
    assert calls["lastHour"]["calls"] == calls["last24h"]["calls"] == 1
    assert calls["lastHour"]["answered"] == 1
    assert calls["lastHour"]["costPerMinute"].startswith("$")
    assert calls["lastHour"]["p95VoiceToVoice"].endswith("s")
    [logged] = wait_for(lambda: call_log(sip_stack), "the call log")
    assert logged["channel"] == "sip" and logged["result"] == "caller-hangup"
    assert logged["cost"]["total"] == attrs["cost.total_usd"]
    who = {"namespace": sip_stack.kube.namespace, "voiceagent": "desk"}
    ops = sip_stack.ops
    assert ops.metric("switchboard_calls_total", **who, channel="sip", result="caller-hangup") == 1
    cost = ops.metric("switchboard_call_cost_usd_total", **who, part="tts", provider="flite")
    assert cost == pytest.approx(attrs["cost.tts_usd"])

    print(f"\n[summary] {json.dumps(logged)}")
    digits = CALLER.lstrip("+")
    assert digits not in json.dumps(logged) and digits not in json.dumps(calls)
    assert all(digits.encode() not in body for body in otlp.bodies)
