"""The VoiceAgent e2e harness: manifests and the operator with its report/metrics ports.

Worker pods are kwok fakes (no processes), so tests play their part and POST the load
reports a real worker sends.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.voiceagent.reports import report_token
from switchboard_contract.report import REPORT_HEARTBEAT_S, REPORT_PATH, WorkerReport

from devstack.procs import free_port
from tests.support.kube import GROUP, VERSION, Kube, wait_for
from tests.support.operator import TEST_REPORT_KEY, OperatorProcess

Factory = Callable[..., OperatorProcess]
NUMBER = "+15550100100"


def trunk(name: str = "carrier") -> dict[str, Any]:
    inbound = {"numbers": [NUMBER], "allowedAddresses": ["127.0.0.1/32"]}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {"inbound": inbound},
    }


def agent(name: str = "desk", trunks: tuple[str, ...] = ("carrier",), **scaling: Any) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VoiceAgent",
        "metadata": {"name": name},
        "spec": {
            "greeting": "Hello",
            "pipeline": {
                "stt": {"provider": "pocketsphinx"},
                "llm": {"provider": "scripted", "script": {"intents": []}},
                "tts": {"provider": "flite"},
            },
            "telephony": {"trunks": list(trunks), "numbers": [NUMBER]},
            "scaling": {
                "warmWorkers": 1,
                "minWorkers": 0,
                "maxWorkers": 5,
                "scaleDownDelay": "2s",
                **scaling,
            },
        },
    }


def post_report(port: int, body: bytes, token: str) -> int:
    """POST a worker report as a worker does; the HTTP status (0: nothing listening yet)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{REPORT_PATH}",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return 0


class Stack:
    """The operator with its report endpoint on a free loopback port."""

    def __init__(
        self,
        factory: Factory,
        endpoint: LiveKitEndpoint,
        kube: Kube,
        *args: str,
        log_name: str = "operator.log",
        **env: str,
    ) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.kube = kube
        self.endpoint = endpoint
        self.op = factory(
            endpoint,
            args=args or ("--standalone",),
            log_name=log_name,
            SWITCHBOARD_REPORT_LISTEN=f"127.0.0.1:{self.port}",
            SWITCHBOARD_METRICS_LISTEN=f"127.0.0.1:{self.metrics_port}",
            SWITCHBOARD_AGENT_IMAGE="registry.local/switchboard-agent:test",
            **env,
        )
        self.key = TEST_REPORT_KEY.encode()
        self.seq = 0
        self.sent: dict[tuple[str, str], tuple[int, float]] = {}  # last report, when sent
        self.uids: dict[str, str] = {}  # tokens are bound to the VoiceAgent's UID

    def token(self, va: str) -> str:
        """The report token the operator renders into the VoiceAgent's worker Secret."""
        if va not in self.uids:
            self.uids[va] = self.kube.get("VoiceAgent", va)["metadata"]["uid"]
        return report_token(self.key, self.kube.namespace, va, self.uids[va])

    def report(self, va: str, pod: str, active: int) -> int:
        self.sent[va, pod] = (active, time.monotonic())
        self.seq += 1
        body = WorkerReport(
            namespace=self.kube.namespace,
            voice_agent=va,
            pod=pod,
            active_calls=active,
            capacity=1,
            seq=self.seq,
        )
        return post_report(self.port, body.model_dump_json().encode(), self.token(va))

    def heartbeat(self) -> None:
        """Re-send each pod's last report once it is a heartbeat old, as a worker does."""
        for (va, pod), (active, at) in list(self.sent.items()):
            if time.monotonic() - at >= REPORT_HEARTBEAT_S:
                self.report(va, pod, active)

    def warm_worker(self, **scaling: Any) -> str:
        """Apply the trunk and the "desk" VoiceAgent; the name of its one warm worker pod."""
        self.kube.create(trunk())
        self.kube.create(agent(**scaling))
        (pod,) = wait_for(
            lambda: self.pods("desk") if len(self.pods("desk")) == 1 else None, "the warm worker"
        )
        return pod

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample from the operator's /metrics (None when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    def va(self, name: str) -> dict[str, Any]:
        self.op.check_alive()
        return self.kube.get("VoiceAgent", name)

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        conds = (self.va(name).get("status") or {}).get("conditions", [])
        return next((c for c in conds if c["type"] == type_), None)

    def wait_condition(self, name: str, type_: str, status: str, reason: str | None = None):
        def check() -> dict[str, Any] | None:
            c = self.condition(name, type_)
            ok = c and c["status"] == status and reason in (None, c["reason"])
            return c if ok else None

        return wait_for(check, f"{name} {type_}={status} {reason or ''}", 90)

    def replicas(self, name: str) -> int:
        dep = self.kube.apps.read_namespaced_deployment(f"{name}-worker", self.kube.namespace)
        return int(dep.spec.replicas)

    def pods(self, name: str, ready_only: bool = True) -> list[str]:
        sel = f"app.kubernetes.io/component=agent-worker,switchboard.dev/voiceagent={name}"
        out = []
        for p in self.kube.core.list_namespaced_pod(self.kube.namespace, label_selector=sel).items:
            ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            if p.metadata.deletion_timestamp is None and (ready or not ready_only):
                out.append(p.metadata.name)
        return sorted(out)
