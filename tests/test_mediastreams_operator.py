"""k8s+livekit tier: spec.mediaStreams from the operator through its routes Secret to a call."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from switchboard.livekit.client import LiveKitEndpoint
from switchboard_agent.local import PocketsphinxSTT

from tests.support.agent_caller import transcribe
from tests.support.carriers import CarrierCall
from tests.support.gateway_proc import GatewayProcess
from tests.support.kube import GROUP, VERSION, Kube, wait_for
from tests.support.phrases import GREETING, LineMatcher
from tests.support.sip_stack import CALLER, SipStack, voice_agent
from tests.support.voiceagent_stack import Factory, Stack

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]

ROUTES = "switchboard-gateway-routes"
TOKEN = "twilio-auth-token-0123456789abcdef"
TWILIO = {"provider": "twilio", "credentialsSecretRef": {"name": "twilio", "key": "authToken"}}


def streams_agent(name: str = "desk", providers: list[dict[str, Any]] | None = None) -> dict:
    doc = voice_agent(name)
    del doc["spec"]["telephony"]  # streams only: no SipTrunk, no dispatch rule
    doc["spec"]["mediaStreams"] = {"providers": providers or [TWILIO]}
    return doc


def routes_data(kube: Kube) -> dict[str, str]:
    try:
        secret = kube.core.read_namespaced_secret(ROUTES, kube.namespace)
    except ApiException as err:
        if err.status == 404:
            return {}
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def project(kube: Kube, into: Path) -> None:
    """What the kubelet does with the gateway's Secret volume: one file per data key."""
    data = routes_data(kube)
    into.mkdir(parents=True, exist_ok=True)
    for old in into.iterdir():
        if old.name not in data:
            old.unlink()
    for key, value in data.items():
        (into / key).write_text(value)


def credentials(kube: Kube, token: str = TOKEN) -> None:
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio"), string_data={"authToken": token}
    )
    kube.core.create_namespaced_secret(kube.namespace, body)


def test_admission_names_the_field(kube: Kube) -> None:
    bad = streams_agent(providers=[TWILIO, copy.deepcopy(TWILIO)])
    with pytest.raises(ApiException) as err:
        kube.create(bad, dry_run=True)
    assert err.value.status == 422 and "spec.mediaStreams.providers[1]" in str(err.value.body)
    wrong = streams_agent(providers=[{**TWILIO, "provider": "vonage"}])
    with pytest.raises(ApiException) as err:
        kube.create(wrong, dry_run=True)
    assert "spec.mediaStreams.providers[0].provider" in str(err.value.body)


async def test_twilio_stream_routed_by_the_operator_counts_in_active_calls(
    kube: Kube,
    livekit_endpoint: LiveKitEndpoint,
    operator_factory: Factory,
    tmp_path: Path,
) -> None:
    routes_dir = tmp_path / "routes"
    gw = GatewayProcess(
        tmp_path / "gateway",
        livekit_endpoint.url,
        livekit_endpoint.api_key,
        livekit_endpoint.api_secret,
        routes_dir=routes_dir,
    )
    env = {
        "SWITCHBOARD_GATEWAY_PUBLIC_URL": gw.url,
        "SWITCHBOARD_GATEWAY_ROUTES_SECRET": f"{kube.namespace}/{ROUTES}",
    }
    ops = Stack(operator_factory, livekit_endpoint, kube, **env)
    stack = SipStack(ops, None, tmp_path)  # type: ignore[arg-type]  # no SIP bridge: streams only
    try:
        kube.create(streams_agent())
        # no credentials yet: not ready, the message names the field, nothing is published
        cond = ops.wait_condition("desk", "MediaStreamsReady", "False", "SecretNotFound")
        assert "spec.mediaStreams.providers[0].credentialsSecretRef" in cond["message"]
        assert f"{kube.namespace}_desk" not in routes_data(kube)

        credentials(kube)
        ops.wait_condition("desk", "MediaStreamsReady", "True", "StreamsRouted")
        status = stack.status()
        url = f"{gw.url}/v1/twilio/{kube.namespace}/desk/answer"
        assert status["mediaStreams"] == {"webhooks": [{"provider": "twilio", "url": url}]}
        project(kube, routes_dir)
        gw.start()

        worker = stack.start_worker()
        call = CarrierCall("twilio", gw.url, kube.namespace, "desk", TOKEN, caller=CALLER)
        await call.dial()
        try:
            greeting = (await call.next_reply()).pcm16k
            heard = LineMatcher().which(greeting)
            assert heard == GREETING, transcribe(greeting, PocketsphinxSTT())
            # the stream's call is the worker's call: the same activeCalls and scaling
            wait_for(lambda: stack.status().get("activeCalls") == 1, "the stream call counted")
        finally:
            await call.hang_up()
            await call.close()
        wait_for(lambda: worker.worker_info().get("active_jobs", 0) == 0, "the job ends")
        wait_for(lambda: stack.status().get("activeCalls", 0) == 0, "the count drops")

        # neither the caller's number nor the credential reaches status, events or logs
        events = str(kube.core.list_namespaced_event(kube.namespace).items)
        for text in (str(stack.status()), events, ops.op.text(), gw.log()):
            assert CALLER.lstrip("+") not in text and TOKEN not in text

        # mediaStreams removed: the route is withdrawn, the gateway refuses the next call
        kube.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            kube.namespace,
            "voiceagents",
            "desk",
            {"spec": {"mediaStreams": None}},
        )
        wait_for(lambda: f"{kube.namespace}_desk" not in routes_data(kube), "route withdrawn")
        wait_for(lambda: ops.condition("desk", "MediaStreamsReady") is None, "condition gone")
        project(kube, routes_dir)
        late = CarrierCall("twilio", gw.url, kube.namespace, "desk", TOKEN)
        status_code, _ = await late.post_answer()
        assert status_code == 403
        await late.close()
    finally:
        gw.stop()
        stack.stop()
