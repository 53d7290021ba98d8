"""The real stack for benchmarks: control plane, redis + livekit-server, the operator process."""

from __future__ import annotations

import json
import secrets
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from switchboard.config import ENV_REPORT_KEY, ENV_REPORT_LISTEN
from switchboard_contract.env import ENV_LIVEKIT_API_KEY, ENV_LIVEKIT_API_SECRET, ENV_LIVEKIT_URL

from devstack.cluster import Cluster
from devstack.livekit import LiveKitStack
from devstack.procs import Process, free_port
from devstack.tools import REPO


@dataclass
class BenchStack:
    workdir: Path
    namespace: str = "bench"
    cluster: Cluster = field(init=False)
    livekit: LiveKitStack = field(init=False)
    operator: Process | None = None
    probe_port: int = 0
    report_port: int = 0
    api: client.ApiClient | None = None

    def __post_init__(self) -> None:
        self.cluster = Cluster(name="switchboard-bench", workdir=self.workdir / "kwok")
        self.livekit = LiveKitStack(self.workdir / "livekit")

    def start(self) -> BenchStack:
        self.cluster.up()
        self.livekit.start()
        self.cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        self.api = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        client.CoreV1Api(self.api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace))
        )
        self.probe_port, self.report_port = free_port(), free_port()
        self.report_key = secrets.token_urlsafe(32)  # the workers' token key, this run only
        env = {
            "KUBECONFIG": str(self.cluster.kubeconfig),
            ENV_LIVEKIT_URL: self.livekit.url,
            ENV_LIVEKIT_API_KEY: self.livekit.api_key,
            ENV_LIVEKIT_API_SECRET: self.livekit.api_secret,
            ENV_REPORT_LISTEN: f"127.0.0.1:{self.report_port}",
            ENV_REPORT_KEY: self.report_key,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        self.operator = Process(
            "operator",
            [
                sys.executable,
                "-m",
                "switchboard",
                "--standalone",
                f"--namespace={self.namespace}",
                f"--liveness=http://127.0.0.1:{self.probe_port}/healthz",
            ],
            self.workdir / "operator.log",
            env=env,
            cwd=REPO,
        ).start()
        self.operator.wait_ready(self._probe_ok, 60)
        return self

    def probe(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.probe_port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as r:
            data: dict[str, Any] = json.loads(r.read())
        return data

    def _probe_ok(self) -> bool:
        try:
            self.probe()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        self.livekit.stop()
        self.cluster.down()
