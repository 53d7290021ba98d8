"""The gateway's configuration: LiveKit, its public URL, and the VoiceAgents it routes to."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from switchboard_gateway.protocol import Provider

ENV_ROUTES = "SWITCHBOARD_GATEWAY_ROUTES"  # path of a static routes JSON (tests, dev)
# the operator's routes Secret, mounted: one file `<namespace>_<name>` per VoiceAgent
ENV_ROUTES_DIR = "SWITCHBOARD_GATEWAY_ROUTES_DIR"
ENV_PUBLIC_URL = "SWITCHBOARD_GATEWAY_PUBLIC_URL"
ENV_LISTEN = "SWITCHBOARD_GATEWAY_LISTEN"
ENV_METRICS_LISTEN = "SWITCHBOARD_METRICS_LISTEN"
ENV_WEB_LIVEKIT_URL = "SWITCHBOARD_GATEWAY_WEB_LIVEKIT_URL"
ENV_WIDGET = "SWITCHBOARD_GATEWAY_WIDGET"  # path of the built widget.js bundle
ENV_STREAM_KEY = "SWITCHBOARD_GATEWAY_STREAM_KEY"
ENV_PII_HASH_KEY = "SWITCHBOARD_PII_HASH_KEY"  # one key for every route (tests, one tenant)
ENV_PII_ROOT_KEY = "SWITCHBOARD_PII_ROOT_KEY"  # the operator's root: per-namespace keys


logger = logging.getLogger("switchboard.gateway")
# what the URL path may name: a namespace (DNS label) and an object name (DNS subdomain)
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Credentials(_Model):
    """One provider's webhook credential: Twilio/Plivo auth token, or Telnyx public key."""

    auth_token: SecretStr | None = Field(default=None, alias="authToken")
    auth_token_file: str | None = Field(default=None, alias="authTokenFile")
    public_key: str | None = Field(default=None, alias="publicKey")
    public_key_file: str | None = Field(default=None, alias="publicKeyFile")

    def token(self) -> str:
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.auth_token_file:
            return Path(self.auth_token_file).read_text().strip()
        raise ValueError("authToken: required (or authTokenFile)")

    def key(self) -> str:
        if self.public_key:
            return self.public_key
        if self.public_key_file:
            return Path(self.public_key_file).read_text().strip()
        raise ValueError("publicKey: required (or publicKeyFile)")


class WebAccess(_Model):
    """Browser sessions for one VoiceAgent: who may start them, and how many at once."""

    allowed_origins: tuple[str, ...] = Field(default=(), alias="allowedOrigins")
    # the Secret's embed key, hashed: the routes file never holds a usable key
    embed_key_sha256: str | None = Field(
        default=None, alias="embedKeySha256", pattern=r"^[0-9a-f]{64}$"
    )
    max_sessions: int = Field(default=10, alias="maxSessions", ge=1)
    session_ttl: int = Field(default=900, alias="sessionTtl", ge=30)  # seconds
    demo: bool = True  # serve /demo/{namespace}/{name}; its own origin is then allowed


class Route(_Model):
    """A VoiceAgent reachable over media streams: where to dispatch, which providers."""

    namespace: str
    name: str
    agent_name: str = Field(alias="agentName")
    room_prefix: str = Field(default="stream-", alias="roomPrefix")
    providers: dict[Provider, Credentials] = Field(default_factory=dict)
    web: WebAccess | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class GatewayConfig(_Model):
    livekit_url: str = Field(alias="livekitUrl")
    livekit_api_key: str = Field(alias="livekitApiKey")
    livekit_api_secret: SecretStr = Field(alias="livekitApiSecret")
    public_url: str = Field(alias="publicUrl")  # https://host[:port] the carriers reach
    routes: list[Route] = Field(default_factory=list)
    routes_dir: str | None = Field(default=None, alias="routesDir")
    stream_key: SecretStr = Field(alias="streamKey")
    hash_key: SecretStr = Field(alias="hashKey")
    pii_root_key: SecretStr | None = Field(default=None, alias="piiRootKey")
    max_message_bytes: int = Field(default=64 * 1024, alias="maxMessageBytes", gt=0)
    idle_timeout: float = Field(default=10.0, alias="idleTimeout", gt=0)
    # caller energy within this window makes an agent stop a barge-in (see session.py)
    barge_in_window: float = Field(default=0.8, alias="bargeInWindow", gt=0)
    # fir: the gateway's low-latency filters; soxr: livekit's (~90 ms more, see resample.py)
    resampler: Literal["fir", "soxr"] = "fir"
    # the LiveKit URL browsers connect to (the gateway's own may be cluster-internal)
    web_livekit_url: str | None = Field(default=None, alias="webLivekitUrl")
    web_rate_per_min: float = Field(default=20, alias="webRatePerMin", gt=0)
    web_burst: int = Field(default=5, alias="webBurst", ge=1)
    # proxies (the Ingress) whose X-Forwarded-For the per-IP session limit believes
    web_trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = Field(
        default=(), alias="webTrustedProxies"
    )
    widget_path: str | None = Field(default=None, alias="widgetPath")

    @model_validator(mode="after")
    def _unique_routes(self) -> GatewayConfig:
        seen: set[str] = set()
        for index, route in enumerate(self.routes):
            if route.key in seen:
                raise ValueError(f"routes[{index}]: duplicate VoiceAgent {route.key}")
            seen.add(route.key)
        return self

    def route(self, namespace: str, name: str) -> Route | None:
        """The static route, else the operator's: read per call, so a change applies at once."""
        found = next((r for r in self.routes if r.key == f"{namespace}/{name}"), None)
        if found is not None or self.routes_dir is None:
            return found
        if not (_NAMESPACE.match(namespace) and _NAME.match(name)):
            return None  # never a path outside the routes directory
        try:
            route = Route.model_validate_json(
                Path(self.routes_dir, f"{namespace}_{name}").read_bytes()
            )
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as err:
            logger.warning("route %s/%s unreadable: %s", namespace, name, type(err).__name__)
            return None
        # the operator derives the key from the VoiceAgent's own metadata; check it anyway
        return route if route.key == f"{namespace}/{name}" else None

    def ws_base(self) -> str:
        base = self.public_url.rstrip("/")
        return "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]

    def hash(self, value: str, namespace: str) -> str:
        """The agent's caller hash (HMAC-SHA256, 16 hex digits), so logs correlate with it.

        With the operator's root key, the key is the one the operator gives that namespace's
        workers (switchboard.config.pii_hash_key), so a repeat caller has one tag everywhere.
        """
        key = self.hash_key.get_secret_value()
        if self.pii_root_key is not None:
            root = self.pii_root_key.get_secret_value().encode()
            key = hmac.new(root, b"pii\x00" + namespace.encode(), hashlib.sha256).hexdigest()
        digest = hmac.new(key.encode(), value.strip().encode(), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest[:16]


def load(env: Mapping[str, str] | None = None) -> GatewayConfig:
    """From the environment: LiveKit creds, public URL, keys, and the routes file."""
    env = os.environ if env is None else env
    routes_path = env.get(ENV_ROUTES)
    routes = json.loads(Path(routes_path).read_text()) if routes_path else {"routes": []}
    # without configured keys: random per process, so tokens and hashes are process-local
    return GatewayConfig.model_validate(
        {
            "livekitUrl": env.get("LIVEKIT_URL", ""),
            "livekitApiKey": env.get("LIVEKIT_API_KEY", ""),
            "livekitApiSecret": env.get("LIVEKIT_API_SECRET", ""),
            "publicUrl": env.get(ENV_PUBLIC_URL, "http://127.0.0.1:8080"),
            "streamKey": env.get(ENV_STREAM_KEY) or secrets.token_hex(32),
            "hashKey": env.get(ENV_PII_HASH_KEY) or secrets.token_hex(32),
            "piiRootKey": env.get(ENV_PII_ROOT_KEY) or None,
            "routesDir": env.get(ENV_ROUTES_DIR) or None,
            "webLivekitUrl": env.get(ENV_WEB_LIVEKIT_URL) or None,
            "widgetPath": env.get(ENV_WIDGET) or None,
            **routes,
        }
    )
