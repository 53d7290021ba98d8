"""Runs the agent worker as a real local process against the test livekit-server."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_contract.env import ENV_PII_HASH_KEY

from devstack.procs import Process, free_port, poll

# The caller-hash key a test worker gets (the operator hands each namespace its own).
TEST_PII_HASH_KEY = "test-pii-hash-key"


@dataclass
class AgentWorker:
    """`python -m switchboard_agent start` with a config file; health/metrics on loopback."""

    workdir: Path
    config: dict[str, Any]
    url: str
    api_key: str
    api_secret: str = field(repr=False)
    http_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict, repr=False)
    proc: Process | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    def env(self) -> dict[str, str]:
        path = self.workdir / "agent-config.json"
        path.write_text(json.dumps(self.config))
        return {
            "SWITCHBOARD_AGENT_CONFIG": str(path),
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
            ENV_PII_HASH_KEY: TEST_PII_HASH_KEY,  # as the operator's worker Secret carries
            "SWITCHBOARD_HTTP_HOST": "127.0.0.1",
            "SWITCHBOARD_HTTP_PORT": str(self.http_port),
            "SWITCHBOARD_PROMETHEUS_PORT": str(self.prometheus_port),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def start(self, timeout: float = 60) -> AgentWorker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "switchboard_agent", "start", "--log-level", "DEBUG"]
        self.proc = Process("agent", argv, self.log_path, env=self.env()).start()
        self.proc.wait_ready(self.registered, timeout)
        # the warm process(es) must be prewarmed before a dispatch is fair game
        self.proc.wait_ready(
            lambda: self.log_contains("initializing process", "process initialized"), timeout
        )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_contains(self, *needles: str) -> bool:
        text = self.log()
        return all(n in text for n in needles)

    def registered(self) -> bool:
        return self.log_contains("registered worker")

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def worker_info(self) -> dict[str, Any]:
        status, body = self.get("/worker")
        assert status == 200, body
        info: dict[str, Any] = json.loads(body)
        return info

    def metric(self, name: str) -> float:
        """A switchboard/lk metric sample from the prometheus endpoint (0 when absent)."""
        _, body = self.get("/metrics", self.prometheus_port)
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def sigterm(self) -> None:
        """SIGTERM to the worker's main process only (what the kubelet does)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None and self.proc.proc is not None
        return self.proc.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)


def wait_for(check: Any, timeout: float, what: str) -> None:
    poll(check, timeout, what, interval=0.05)
