"""The sip tier's harness: operator + SipTrunk + VoiceAgent applied, real workers, manifests."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from livekit import api

from devstack.kube import is_true
from devstack.sip import SipBridge
from tests.support.agent_configs import GREETING, SCRIPT
from tests.support.agent_worker import AgentWorker
from tests.support.kube import GROUP, VERSION, Kube, wait_for
from tests.support.voiceagent_stack import NUMBER, Stack

CALLER = "+15557770123"  # the caller's number: must never show up in logs, status or spans
HOURS_REPLY = SCRIPT["intents"][0]["reply"]
TRANSFER_URI = "sip:frontdesk@127.0.0.1:5099"
# spoken by flite's rms voice after a pause (devstack.sipua), the agent's pocketsphinx heard
# this 16 times out of 16 through PCMU and Opus; the script's intent keys on its words.
QUESTION = "Are you open on Monday?"


def phone_script(reply: str = HOURS_REPLY, action: dict[str, str] | None = None) -> dict:
    """A one-intent script: QUESTION gets `reply`, then `action` (transfer/hangup) if any."""
    intent: dict[str, Any] = {
        "name": "asked",
        "keywords": ["monday", "open", "hours"],
        "reply": reply,
    }
    if action:
        intent["action"] = action
    return {"intents": [intent], "fallback": "Sorry, I did not catch that."}


def sip_trunk(name: str = "carrier", *, outbound: str | None = None, **inbound: Any) -> dict:
    spec: dict[str, Any] = {
        "inbound": {"numbers": [NUMBER], "allowedAddresses": ["127.0.0.1/32"], **inbound}
    }
    if outbound:
        spec["outbound"] = {"address": outbound, "transport": "udp", "numbers": [NUMBER]}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": spec,
    }


def voice_agent(
    name: str = "desk",
    trunks: tuple[str, ...] = ("carrier",),
    numbers: tuple[str, ...] = (NUMBER,),
    otlp: str | None = None,
    script: dict[str, Any] | None = None,
) -> dict[str, Any]:
    telemetry: dict[str, Any] = {"redactPII": True, "samplingRatio": 1.0}
    if otlp:
        telemetry["otlpEndpoint"] = otlp
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VoiceAgent",
        "metadata": {"name": name},
        "spec": {
            "greeting": GREETING,
            "pipeline": {
                "stt": {"provider": "pocketsphinx"},
                "llm": {"provider": "scripted", "script": script or phone_script()},
                "tts": {"provider": "flite", "voice": "slt"},
            },
            "telephony": {
                "trunks": list(trunks),
                "numbers": list(numbers),
                "transferTargets": [{"name": "frontdesk", "uri": TRANSFER_URI}],
                "maxCallDuration": "2m",
            },
            "scaling": {"warmWorkers": 1, "minWorkers": 0, "maxWorkers": 3, "scaleDownDelay": "2s"},
            "telemetry": telemetry,
        },
    }


@dataclass
class SipStack:
    """Everything a phone call crosses, started for one test namespace."""

    ops: Stack
    bridge: SipBridge
    workdir: Path
    workers: list[AgentWorker] = field(default_factory=list)

    @property
    def kube(self) -> Kube:
        return self.ops.kube

    def apply(self, *docs: dict[str, Any]) -> None:
        """Create the objects, trunks first, and wait until each is Ready."""
        for doc in sorted(docs, key=lambda d: d["kind"] != "SipTrunk"):
            self.kube.create(doc)
            kind, name = doc["kind"], doc["metadata"]["name"]
            if kind == "SipTrunk":
                wait_for(
                    lambda k=kind, n=name: is_true(self.kube.get(k, n), "Ready"),
                    f"{name} Ready",
                    90,
                )
            else:
                self.ops.wait_condition(name, "LiveKitSynced", "True")

    def start_worker(self, va: str = "desk") -> AgentWorker:
        """A real worker with the ConfigMap and Secret the operator rendered for `va`."""
        ns = self.kube.namespace
        cm = wait_for(
            lambda: _read(self.kube.core.read_namespaced_config_map, f"{va}-agent-config", ns),
            "the agent ConfigMap",
        )
        secret = wait_for(
            lambda: _read(self.kube.core.read_namespaced_secret, f"{va}-worker", ns),
            "the worker Secret",
        )
        creds = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        pod = f"local-{va}-{len(self.workers)}"
        worker = AgentWorker(
            self.workdir / pod,
            json.loads(cm.data["agent-config.json"]),
            creds.pop("LIVEKIT_URL"),
            creds.pop("LIVEKIT_API_KEY"),
            creds.pop("LIVEKIT_API_SECRET"),
            extra_env={
                **creds,
                "SWITCHBOARD_REPORT_URL": f"http://127.0.0.1:{self.ops.port}/v1/reports",
                "SWITCHBOARD_POD_NAME": pod,
            },
        )
        self.workers.append(worker)
        return worker.start()

    async def rooms(self) -> list[str]:
        """Names of the LiveKit rooms that exist now."""
        ep = self.ops.endpoint
        async with api.LiveKitAPI(ep.url, ep.api_key, ep.api_secret) as lk:
            rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        # the dispatch rule's prefix: other tests share this livekit-server
        return [r.name for r in rooms if r.name.startswith("call-")]

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60
    ) -> None:
        """Await `check` until true (a hang guard, not a speed assertion)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"gave up waiting for {what}", pytrace=False)
            await asyncio.sleep(0.2)

    def status(self, va: str = "desk") -> dict[str, Any]:
        return self.ops.va(va).get("status") or {}

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


def _read(fn: Callable[..., Any], name: str, ns: str) -> Any:
    try:
        return fn(name, ns)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
