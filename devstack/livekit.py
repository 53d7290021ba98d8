"""Real redis + livekit-server on free loopback ports with a generated key."""

from __future__ import annotations

import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devstack import tools
from devstack.procs import Process, StartupError, free_port, free_udp_range, port_open


def server_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@dataclass
class LiveKitStack:
    """redis-server and livekit-server processes; `url`, `api_key` and `api_secret` once up."""

    workdir: Path
    api_key: str = field(default_factory=lambda: "API" + secrets.token_hex(6))
    api_secret: str = field(default_factory=lambda: secrets.token_urlsafe(36), repr=False)
    port: int = 0
    redis_port: int = 0
    version: str = ""
    redis: Process | None = None
    server: Process | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_address(self) -> str:
        return f"127.0.0.1:{self.redis_port}"

    def config(self) -> dict[str, object]:
        rtc_start, rtc_end = free_udp_range(64)
        return {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "rtc": {
                "tcp_port": free_port(),
                "port_range_start": rtc_start,
                "port_range_end": rtc_end,
                # Loopback only: never ask a STUN server for an external IP.
                "use_external_ip": False,
                "node_ip": "127.0.0.1",
            },
            "redis": {"address": self.redis_address},
            "keys": {self.api_key: self.api_secret},
            "logging": {"level": "info", "json": False},
            "turn": {"enabled": False},
        }

    def start_redis(self, timeout: float = 15) -> None:
        binary = tools.redis_server()
        if binary is None:
            raise StartupError("redis-server not installed; run `make tools`")
        self.redis_port = self.redis_port or free_port()
        self.redis = Process(
            "redis-server",
            [
                str(binary),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            self.workdir / "redis.log",
        ).start()
        self.redis.wait_ready(lambda: port_open(self.redis_port), timeout)

    def start_server(self, timeout: float = 30) -> None:
        binary = tools.livekit_server()
        self.version = server_version(binary)
        self.port = self.port or free_port()
        cfg = self.workdir / "livekit.yaml"
        cfg.write_text(yaml.safe_dump(self.config()))
        cfg.chmod(0o600)  # it holds the API secret
        self.server = Process(
            "livekit-server", [str(binary), "--config", str(cfg)], self.workdir / "livekit.log"
        ).start()
        self.server.wait_ready(self.healthy, timeout)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.http_url, timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> LiveKitStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_redis()
            self.start_server()
        except StartupError:
            self.stop()
            raise
        return self

    def stop_server(self) -> None:
        """Stop only livekit-server (outage tests); `start_server` restarts it on the same port."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def stop(self) -> None:
        self.stop_server()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
