"""Operator configuration from the environment (the chart sets these)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from switchboard_contract.pricing import Pricing
from switchboard_contract.report import REPORT_PATH, REPORT_PORT

from switchboard.analytics.calllog import DEFAULT_SIZE as CALL_LOG_DEFAULT
from switchboard.analytics.calllog import MAX_SIZE as CALL_LOG_MAX
from switchboard.api.common import parse_duration
from switchboard.livekit.client import LiveKitEndpoint

ENV_LIVEKIT_URL = "LIVEKIT_URL"
ENV_LIVEKIT_API_KEY = "LIVEKIT_API_KEY"
ENV_LIVEKIT_API_SECRET = "LIVEKIT_API_SECRET"
ENV_RESYNC_PERIOD = "SWITCHBOARD_RESYNC_PERIOD"
ENV_AGENT_IMAGE = "SWITCHBOARD_AGENT_IMAGE"
ENV_REPORT_LISTEN = "SWITCHBOARD_REPORT_LISTEN"  # host:port the report endpoint binds
ENV_REPORT_URL = "SWITCHBOARD_REPORT_URL"  # the URL workers POST to
ENV_REPORT_KEY = "SWITCHBOARD_REPORT_KEY"  # HMAC key for worker tokens
# Root of the per-namespace caller-number hash keys handed to workers (never a LiveKit key).
ENV_PII_ROOT_KEY = "SWITCHBOARD_PII_ROOT_KEY"
ENV_TENANCY = "SWITCHBOARD_TENANCY"  # shared | isolated
ENV_DEFAULT_LIVEKIT_NAMESPACES = "SWITCHBOARD_DEFAULT_LIVEKIT_NAMESPACES"  # comma-separated
ENV_METRICS_LISTEN = "SWITCHBOARD_METRICS_LISTEN"  # host:port of /metrics; unset = off
# Concurrent outbound calls per namespace: the cluster default, and "ns=N,ns2=M" overrides.
ENV_OUTBOUND_MAX_CALLS = "SWITCHBOARD_OUTBOUND_MAX_CALLS"
# JSON of a Pricing: the platform's prices on top of the shipped table (chart `pricing`)
ENV_PRICING = "SWITCHBOARD_PRICING"
# summaries kept per VoiceAgent in its call-log ConfigMap (0: no call log)
ENV_CALL_LOG_SIZE = "SWITCHBOARD_CALL_LOG_SIZE"
ENV_OUTBOUND_NAMESPACE_MAX_CALLS = "SWITCHBOARD_OUTBOUND_NAMESPACE_MAX_CALLS"
DEFAULT_OUTBOUND_MAX_CALLS = 10  # Vapi's and Bland's entry tier
# The media-stream gateway: the https:// base carriers reach, and the Secret
# ("namespace/name") the operator publishes stream routes to and the gateway mounts.
ENV_GATEWAY_PUBLIC_URL = "SWITCHBOARD_GATEWAY_PUBLIC_URL"
ENV_GATEWAY_ROUTES_SECRET = "SWITCHBOARD_GATEWAY_ROUTES_SECRET"

DEFAULT_AGENT_IMAGE = "ghcr.io/switchboard-dev/switchboard-agent:0.1.0"


class OperatorConfig(BaseModel):
    """What the operator needs besides the watched objects."""

    model_config = ConfigDict(frozen=True)

    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    resync_seconds: float = Field(default=60.0, gt=0)
    agent_image: str = DEFAULT_AGENT_IMAGE
    report_host: str = "0.0.0.0"
    report_port: int = REPORT_PORT
    report_url: str = f"http://switchboard-operator.switchboard.svc:{REPORT_PORT}{REPORT_PATH}"
    report_key: SecretStr | None = None
    pii_root_key: SecretStr | None = None
    # One LiveKit (one API key set) is one trust domain: a worker with its credentials can
    # register under any agent name and join any room. `shared`: every namespace may use
    # the default LiveKit (one team). `isolated`: only the namespaces listed here may; the
    # others bring their own spec.livekit.secretRef.
    tenancy: Literal["shared", "isolated"] = "shared"
    default_livekit_namespaces: frozenset[str] = frozenset()
    # Off unless asked for (the chart does): several local operators must not fight over a port.
    metrics_host: str | None = None
    metrics_port: int | None = None
    # The platform's, not the tenant's: a chart value, so no namespace can raise its own.
    outbound_max_calls: int = Field(default=DEFAULT_OUTBOUND_MAX_CALLS, ge=0)
    outbound_namespace_max_calls: dict[str, int] = Field(default_factory=dict)
    # Both unset: no gateway, and a VoiceAgent's spec.mediaStreams says so in its status.
    gateway_public_url: str | None = None
    gateway_routes_secret: tuple[str, str] | None = None
    pricing: Pricing | None = None
    call_log_size: int = Field(default=CALL_LOG_DEFAULT, ge=0, le=CALL_LOG_MAX)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        resync = env.get(ENV_RESYNC_PERIOD)
        return cls(
            livekit_url=env.get(ENV_LIVEKIT_URL) or None,
            livekit_api_key=env.get(ENV_LIVEKIT_API_KEY) or None,
            livekit_api_secret=SecretStr(env[ENV_LIVEKIT_API_SECRET])
            if env.get(ENV_LIVEKIT_API_SECRET)
            else None,
            resync_seconds=parse_duration(resync).total_seconds() if resync else 60.0,
            agent_image=env.get(ENV_AGENT_IMAGE) or DEFAULT_AGENT_IMAGE,
            **_report_settings(env),
        )

    def report_hmac_key(self) -> bytes:
        """The worker-token key: explicit only, never derived from LiveKit credentials (every
        tenant's worker holds those in shared mode, and could then forge any report)."""
        if self.report_key is not None:
            return self.report_key.get_secret_value().encode()
        raise ValueError(f"set {ENV_REPORT_KEY} to accept worker reports")

    def pii_hash_key(self, namespace: str) -> str | None:
        """The caller-number hash key for one namespace's workers, None without a root key.

        Per namespace, so one tenant's key cannot test numbers against another's hashes."""
        if self.pii_root_key is None:
            return None
        root = self.pii_root_key.get_secret_value().encode()
        return hmac.new(root, b"pii\x00" + namespace.encode(), hashlib.sha256).hexdigest()

    def outbound_cap(self, namespace: str) -> int:
        """How many outbound calls of `namespace` may be in flight at once."""
        return self.outbound_namespace_max_calls.get(namespace, self.outbound_max_calls)

    def may_use_default_livekit(self, namespace: str) -> bool:
        return self.tenancy == "shared" or namespace in self.default_livekit_namespaces

    def default_livekit(self) -> LiveKitEndpoint | None:
        if not (self.livekit_url and self.livekit_api_key and self.livekit_api_secret):
            return None
        return LiveKitEndpoint(
            self.livekit_url, self.livekit_api_key, self.livekit_api_secret.get_secret_value()
        )


def _listen(value: str) -> tuple[str, int]:
    """ "host:port" or ":port" (all interfaces)."""
    host, _, port = value.rpartition(":")
    return host or "0.0.0.0", int(port)


def _report_settings(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if listen := env.get(ENV_REPORT_LISTEN):
        out["report_host"], out["report_port"] = _listen(listen)
    if listen := env.get(ENV_METRICS_LISTEN):
        out["metrics_host"], out["metrics_port"] = _listen(listen)
    if url := env.get(ENV_REPORT_URL):
        out["report_url"] = url
    if key := env.get(ENV_REPORT_KEY):
        out["report_key"] = SecretStr(key)
    if key := env.get(ENV_PII_ROOT_KEY):
        out["pii_root_key"] = SecretStr(key)
    if url := env.get(ENV_GATEWAY_PUBLIC_URL):
        out["gateway_public_url"] = url.rstrip("/")
    if ref := env.get(ENV_GATEWAY_ROUTES_SECRET):
        namespace, _, name = ref.partition("/")
        if not (namespace and name):
            raise ValueError(f"{ENV_GATEWAY_ROUTES_SECRET}: expected namespace/name")
        out["gateway_routes_secret"] = (namespace, name)
    if tenancy := env.get(ENV_TENANCY):
        out["tenancy"] = tenancy
    if allowed := env.get(ENV_DEFAULT_LIVEKIT_NAMESPACES):
        out["default_livekit_namespaces"] = frozenset(
            n.strip() for n in allowed.split(",") if n.strip()
        )
    if cap := env.get(ENV_OUTBOUND_MAX_CALLS):
        out["outbound_max_calls"] = int(cap)
    if caps := env.get(ENV_OUTBOUND_NAMESPACE_MAX_CALLS):
        out["outbound_namespace_max_calls"] = parse_caps(caps)
    if size := env.get(ENV_CALL_LOG_SIZE):
        out["call_log_size"] = int(size)
    if pricing := env.get(ENV_PRICING):
        out["pricing"] = parse_pricing(pricing)
    return out


def parse_pricing(value: str) -> Pricing:
    """The chart's price table; a bad entry fails the start, naming it."""
    try:
        return Pricing.model_validate_json(value)
    except ValidationError as err:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        )
        raise ValueError(f"{ENV_PRICING}: {where}") from None


def parse_caps(value: str) -> dict[str, int]:
    """ "team-a=5, team-b=20" -> {"team-a": 5, "team-b": 20}; a bad entry fails the start."""
    caps: dict[str, int] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        namespace, sep, number = entry.partition("=")
        if not sep or not namespace.strip() or not number.strip().isdigit():
            raise ValueError(f"{ENV_OUTBOUND_NAMESPACE_MAX_CALLS}: {entry!r} is not ns=N")
        caps[namespace.strip()] = int(number)
    return caps
