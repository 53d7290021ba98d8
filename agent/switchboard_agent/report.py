"""Tell the operator this worker's active-call count whenever it changes (the scaling signal)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from pydantic import ValidationError
from switchboard_contract import AgentConfig
from switchboard_contract.report import (
    ENV_POD_NAME,
    ENV_REPORT_TOKEN,
    ENV_REPORT_URL,
    REPORT_HEARTBEAT_S,
    SEQ_LIMIT,
    WorkerReport,
)

logger = logging.getLogger("switchboard.agent.report")

POLL_S = 0.1  # local, cheap: how fast a call start/end reaches the operator


def local_worker_name(nodename: str, pid: int) -> str:
    """A DNS-1123 name for a worker outside a pod (the report's `pod`), e.g. a laptop's."""
    raw = re.sub(r"[^a-z0-9.-]+", "-", f"{nodename}-{pid}".lower())
    return raw[-253:].strip("-.") or f"worker-{pid}"


def post_json(url: str, token: str, body: bytes, timeout: float = 2.0) -> int:
    """POST `body` to the operator with the report token: the HTTP status, 0 for no answer
    (the operator down or restarting). Load reports and call reports share it."""
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return 0


class Reporter(threading.Thread):
    """A daemon thread: POST on every change of (active calls, draining), and as a heartbeat.

    A thread, not a task on the agent server's loop, so a busy event loop can't delay the
    signal the scaler depends on; it only reads two counters.
    """

    def __init__(
        self,
        url: str,
        token: str,
        config: AgentConfig,
        pod: str,
        active: Callable[[], int],
        draining: Callable[[], bool],
    ) -> None:
        super().__init__(name="switchboard-reporter", daemon=True)
        self.url, self.token, self.config, self.pod = url, token, config, pod
        self.active, self.draining = active, draining
        self.seq = 0
        # Names this reporter's seq counter: a restarted container gets a new one, so the
        # operator takes its seq 1 at once instead of dropping it as older than seq 500.
        self.epoch = 1 + secrets.randbelow(SEQ_LIMIT - 1)  # 0 means "no epoch"
        self.sent = 0
        self._stop = threading.Event()

    @classmethod
    def from_env(
        cls,
        config: AgentConfig,
        active: Callable[[], int],
        draining: Callable[[], bool],
        env: Mapping[str, str] | None = None,
    ) -> Reporter | None:
        env = os.environ if env is None else env
        url = env.get(ENV_REPORT_URL)
        if not url:
            return None
        pod = env.get(ENV_POD_NAME) or local_worker_name(os.uname().nodename, os.getpid())
        return cls(url, env.get(ENV_REPORT_TOKEN, ""), config, pod, active, draining)

    def report(self) -> WorkerReport:
        self.seq += 1
        return WorkerReport(
            namespace=self.config.voice_agent.namespace,
            voice_agent=self.config.voice_agent.name,
            pod=self.pod,
            # exact types: the contract is strict, and a truthy 1 is not a flag
            active_calls=int(self.active()),
            capacity=self.config.calls_per_worker,
            draining=bool(self.draining()),
            seq=self.seq,
            epoch=self.epoch,
        )

    def send(self, report: WorkerReport) -> bool:
        status = post_json(self.url, self.token, report.model_dump_json().encode())
        if status == 0:
            # The heartbeat retries; the operator treats a silent worker as stale.
            logger.warning("report to the operator failed: no answer")
            return False
        if status != 200:
            # 503 from a standby operator replica is routine behind the Service: the next try
            # (POLL_S later) usually reaches the active one.
            level = logging.DEBUG if status == 503 else logging.WARNING
            logger.log(level, "report to the operator refused: HTTP %d", status)
            return False
        self.sent += 1
        return True

    def run(self) -> None:
        last: tuple[int, bool] | None = None
        last_sent = 0.0
        while not self._stop.is_set():
            state = (self.active(), self.draining())
            now = time.monotonic()
            if state != last or now - last_sent >= REPORT_HEARTBEAT_S:
                try:
                    report = self.report()
                except ValidationError as err:
                    # Outside the contract's bounds (e.g. a pod name it refuses): the operator
                    # would refuse it too. Say so on each change or heartbeat; the thread lives on.
                    logger.error("cannot report to the operator: %s", err)
                    last, last_sent = state, now
                else:
                    if self.send(report):
                        last, last_sent = state, now
            self._stop.wait(POLL_S)

    def stop(self) -> None:
        self._stop.set()
