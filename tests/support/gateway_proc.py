"""Runs the media-stream gateway as a real local process against the test livekit-server."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from devstack import tools
from devstack.procs import Process, free_port, poll
from tests.support.agent_worker import TEST_PII_HASH_KEY


@dataclass(frozen=True)
class ProviderKeys:
    """What each carrier double signs with (and the gateway's matching credentials)."""

    twilio_token: str = field(default_factory=lambda: secrets.token_hex(16))
    plivo_token: str = field(default_factory=lambda: secrets.token_hex(16))
    telnyx_seed: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def telnyx_private(self) -> str:
        return base64.b64encode(self.telnyx_seed).decode()

    @property
    def telnyx_public(self) -> str:
        key = Ed25519PrivateKey.from_private_bytes(self.telnyx_seed).public_key()
        return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    def secret(self, provider: str) -> str:
        return {"twilio": self.twilio_token, "plivo": self.plivo_token}.get(
            provider, self.telnyx_private
        )

    def credentials(self, provider: str) -> dict[str, str]:
        if provider == "telnyx":
            return {"publicKey": self.telnyx_public}
        return {"authToken": self.secret(provider)}


@dataclass
class GatewayProcess:
    """`python -m switchboard_gateway` on a free loopback port with a routes file."""

    workdir: Path
    livekit_url: str
    api_key: str
    api_secret: str = field(repr=False)
    routes: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    listen_host: str = "127.0.0.1"
    public_url: str | None = None  # what carriers reach (a relay); default: the listen URL
    routes_dir: Path | None = None  # the operator's routes Secret, as the kubelet mounts it
    proc: Process | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.listen_host == "0.0.0.0" else self.listen_host
        return f"http://{host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "gateway.log"

    def start(self, timeout: float = 30) -> GatewayProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        routes = self.workdir / "routes.json"
        routes.write_text(json.dumps({"routes": self.routes, **self.settings}))
        env = {
            "LIVEKIT_URL": self.livekit_url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
            "SWITCHBOARD_GATEWAY_ROUTES": str(routes),
            "SWITCHBOARD_GATEWAY_PUBLIC_URL": self.public_url or self.url,
            "SWITCHBOARD_GATEWAY_LISTEN": f"{self.listen_host}:{self.port}",
            "SWITCHBOARD_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
            "SWITCHBOARD_PII_HASH_KEY": TEST_PII_HASH_KEY,
            "SWITCHBOARD_GATEWAY_WIDGET": str(tools.widget()),
            "PYTHONUNBUFFERED": "1",
        }
        if self.routes_dir is not None:
            env["SWITCHBOARD_GATEWAY_ROUTES_DIR"] = str(self.routes_dir)
        argv = [sys.executable, "-m", "switchboard_gateway"]
        self.proc = Process("gateway", argv, self.log_path, env=env).start()
        self.proc.wait_ready(lambda: self.get("/healthz")[0] == 200, timeout)
        return self

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            base = self.url if port is None else f"http://127.0.0.1:{port}"
            url = base + path
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str, **labels: str) -> float:
        _, body = self.get("/metrics", self.metrics_port)
        total = 0.0
        for line in body.splitlines():
            if line.split("{")[0].split(" ")[0] != name:
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle: str, timeout: float = 20) -> None:
        poll(lambda: needle in self.log(), timeout, f"gateway log line {needle!r}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=10)
