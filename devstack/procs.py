"""Process plumbing for the local stack: free ports, polling, and child processes with log files."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class StartupError(RuntimeError):
    """A component did not become ready; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel says is free now (racy by nature; callers start promptly)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_udp_range(size: int, host: str = "127.0.0.1", attempts: int = 50) -> tuple[int, int]:
    """A run of `size` consecutive free UDP ports (for RTP ranges)."""
    for _ in range(attempts):
        start = free_port(host, socket.SOCK_DGRAM)
        socks = []
        try:
            for port in range(start, start + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise StartupError(f"no {size} consecutive free UDP ports on {host}")


def poll(
    check: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.1,
    error: type[Exception] = StartupError,
) -> T:
    """Call `check` until it returns something truthy and return that; on timeout raise
    `error` naming `what`. The timeout is a hang guard, never an assertion about speed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        # as servers bind: connections of a previous run in TIME_WAIT do not block the port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` from /proc (0 when it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


@dataclass
class Process:
    """A child process in its own process group, logging to a file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,  # own group: stop() reaps any children too
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_ready(self, check: Callable[[], bool], timeout: float) -> None:
        """Poll `check`; fail fast with the log tail if the process dies or times out."""

        def ready() -> bool:
            if not self.alive():
                raise StartupError(f"{self.name} exited early:\n{self.log_tail()}")
            return check()

        try:
            poll(ready, timeout, self.name)
        except StartupError as err:
            if "exited early" in str(err):
                raise
            raise StartupError(f"{err}\n{self.log_tail()}") from None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.proc.wait(5)
