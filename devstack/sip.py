"""Real livekit-sip on loopback: a free SIP port and RTP range, the LiveKit stack's redis."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack import tools
from devstack.livekit import LiveKitStack, server_version
from devstack.procs import Process, StartupError, free_port, free_udp_range

RTP_PORTS = 200  # two ports' worth per call is plenty for the benchmarks' concurrency


def free_sip_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port free for both UDP and TCP (livekit-sip listens on both)."""
    for _ in range(attempts):
        port = free_port(host, socket.SOCK_DGRAM)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port
    raise StartupError("no port free for both UDP and TCP")


@dataclass
class SipBridge:
    """livekit-sip against `livekit` (same keys, same redis); `uri(number)` to call in."""

    workdir: Path
    livekit: LiveKitStack
    port: int = 0
    health_port: int = 0
    prometheus_port: int = 0
    rtp_range: tuple[int, int] = (0, 0)
    version: str = ""
    proc: Process | None = None
    host: str = "127.0.0.1"  # signalling, media and SDP address (bench channels: a veth's)

    @property
    def log_path(self) -> Path:
        return self.workdir / "livekit-sip.log"

    def uri(self, number: str) -> str:
        return f"sip:{number}@{self.host}:{self.port}"

    def config(self) -> dict[str, object]:
        return {
            "api_key": self.livekit.api_key,
            "api_secret": self.livekit.api_secret,
            "ws_url": self.livekit.url,
            "redis": {"address": self.livekit.redis_address},
            "sip_port": self.port,
            "rtp_port": f"{self.rtp_range[0]}-{self.rtp_range[1]}",
            # loopback only: signalling, media and the addresses put in SDP and Contact
            "listen_ip": self.host,
            "use_external_ip": False,
            "nat_1_to_1_ip": self.host,
            "health_port": self.health_port,
            "prometheus_port": self.prometheus_port,
            "logging": {"level": "info", "json": False},
            # livekit-sip refuses outbound calls while the *machine's* CPU is above this; the
            # local stack shares its cores with builds and tests, so never shed load on it.
            "max_cpu_utilization": 1.0,
        }

    def start(self, timeout: float = 30) -> SipBridge:
        binary = tools.livekit_sip()
        if not binary.exists():
            raise StartupError(f"livekit-sip not found at {binary}; run `make tools`")
        self.version = server_version(binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_sip_port(self.host)
        self.health_port = self.health_port or free_port()
        self.prometheus_port = self.prometheus_port or free_port()
        if not self.rtp_range[0]:
            self.rtp_range = free_udp_range(RTP_PORTS)
        cfg = self.workdir / "livekit-sip.yaml"
        cfg.write_text(yaml.safe_dump(self.config()))
        cfg.chmod(0o600)  # it holds the API secret
        self.proc = Process(
            "livekit-sip", [str(binary), "--config", str(cfg)], self.log_path
        ).start()
        self.proc.wait_ready(self.healthy, timeout)
        return self

    def healthy(self) -> bool:
        """Started and serving: 200, or 429 (under load, still taking calls)."""
        try:
            url = f"http://127.0.0.1:{self.health_port}/"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as err:
            return err.code == 429
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None
