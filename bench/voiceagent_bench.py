"""Scaling decision latency on the real control plane: worker report -> Deployment replicas.

A call starting or ending must change the desired worker count within 1 s (p95). Each
iteration POSTs a report (a call starts, then ends) and times (a) the POST, which returns
once the scaler has patched the Deployment, and (b) until a watch sees the new replicas.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from switchboard.api import GROUP, VERSION
from switchboard.voiceagent.reports import report_token
from switchboard_contract.report import REPORT_PATH, WorkerReport
from urllib3.exceptions import ProtocolError

from bench.common import summary, write
from bench.stack import BenchStack
from devstack.procs import poll

NUMBER = "+15550100100"


def manifests() -> list[dict[str, Any]]:
    trunk = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": "t"},
        "spec": {"inbound": {"numbers": [NUMBER], "allowedAddresses": ["127.0.0.1/32"]}},
    }
    agent = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VoiceAgent",
        "metadata": {"name": "a"},
        "spec": {
            "pipeline": {
                "stt": {"provider": "pocketsphinx"},
                "llm": {"provider": "scripted", "script": {}},
                "tts": {"provider": "flite"},
            },
            "telephony": {"trunks": ["t"]},
            "scaling": {
                "warmWorkers": 1,
                "minWorkers": 1,
                "maxWorkers": 10,
                "scaleDownDelay": "0s",
            },
        },
    }
    return [trunk, agent]


def run(iterations: int, workdir: Path) -> dict[str, Any]:
    stack = BenchStack(workdir)
    try:
        stack.start()
        assert stack.api is not None
        custom, apps = client.CustomObjectsApi(stack.api), client.AppsV1Api(stack.api)
        for body in manifests():
            plural = body["kind"].lower() + "s"
            custom.create_namespaced_custom_object(GROUP, VERSION, "bench", plural, body)
        poll(lambda: bool(apps.list_namespaced_deployment("bench").items), 60, "the Deployment")

        seen: dict[int, float] = {}
        changed = threading.Condition()

        def watch_replicas() -> None:
            w = watch.Watch()
            try:
                for ev in w.stream(apps.list_namespaced_deployment, "bench", timeout_seconds=600):
                    with changed:
                        seen[int(ev["object"].spec.replicas)] = time.monotonic()
                        changed.notify_all()
            except ProtocolError:
                pass  # the control plane stops under the watch when the run ends

        threading.Thread(target=watch_replicas, daemon=True).start()
        key = stack.report_key.encode()
        va = custom.get_namespaced_custom_object(GROUP, VERSION, "bench", "voiceagents", "a")
        token = report_token(key, "bench", "a", va["metadata"]["uid"])
        post_s: list[float] = []
        watch_s: list[float] = []
        for i in range(iterations):
            active = 1 - i % 2  # a call starts, then ends
            expect = 2 if active else 1
            with changed:
                seen.pop(expect, None)
            report = WorkerReport(
                namespace="bench",
                voice_agent="a",
                pod="local-worker",
                active_calls=active,
                capacity=1,
                seq=i + 1,
            )
            req = urllib.request.Request(
                f"http://127.0.0.1:{stack.report_port}{REPORT_PATH}",
                data=report.model_dump_json().encode(),
                method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
            post_s.append(time.monotonic() - t0)
            with changed:
                changed.wait_for(lambda e=expect: e in seen, timeout=10)
                if expect in seen:
                    watch_s.append(seen[expect] - t0)
            time.sleep(0.05)
        probe = stack.probe().get("decisionLatencyMs", {})
        result = {
            "iterations": iterations,
            "report_to_patch_s": summary(post_s),
            "report_to_watch_s": summary(watch_s),
            "operator_decision_ms": probe,
            "target_p95_s": 1.0,
        }
        print(f"report -> replicas patched: {summary(post_s)}")
        print(f"report -> replicas seen by a watch: {summary(watch_s)}")
        print(f"operator-side decision latency (ms): {probe}")
        return result
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench voiceagent", description=__doc__)
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        result = run(args.iterations, Path(tmp))
    write("voiceagent-decision-latency", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
