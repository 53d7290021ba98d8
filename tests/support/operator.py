"""The real operator as a test's process: `python -m switchboard --standalone` (or peered)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from switchboard.livekit.client import LiveKitEndpoint

from devstack.tools import REPO
from tests.support.kube import Kube

# Short resync so drift tests finish quickly; production defaults to 60s.
TEST_RESYNC = "2s"
# The worker-token key and the caller-hash root key of every test operator (not secret).
TEST_REPORT_KEY = "test-report-key-0123456789"
TEST_PII_ROOT_KEY = "test-pii-root-key-0123456789"


@dataclass
class OperatorProcess:
    """One operator process watching one namespace; restartable, with a persistent log."""

    kube: Kube
    log: Path
    livekit: LiveKitEndpoint | None
    extra_env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("--standalone",)  # or --peering=NAME [--priority=N]
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            KUBECONFIG=str(self.kube.kubeconfig),
            NO_PROXY="127.0.0.1,localhost",
            SWITCHBOARD_RESYNC_PERIOD=TEST_RESYNC,
            SWITCHBOARD_REPORT_KEY=TEST_REPORT_KEY,
            SWITCHBOARD_PII_ROOT_KEY=TEST_PII_ROOT_KEY,
        )
        for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
            env.pop(name, None)
        if self.livekit is not None:
            env.update(
                LIVEKIT_URL=self.livekit.url,
                LIVEKIT_API_KEY=self.livekit.api_key,
                LIVEKIT_API_SECRET=self.livekit.api_secret,
            )
        env.update(self.extra_env)
        return env

    def start(self) -> OperatorProcess:
        cmd = [
            sys.executable,
            "-m",
            "switchboard",
            *self.args,
            f"--namespace={self.kube.namespace}",
            "--verbose",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env(), stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(
                f"operator exited with {self.proc.returncode}:\n{self.text()[-4000:]}",
                pytrace=False,
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer handling — the crash case."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
