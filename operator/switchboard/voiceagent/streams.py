"""Media-stream routes: what the operator publishes for the gateway, and the webhook URLs.

The gateway's only source of routes is one Secret the operator writes (in the gateway's
namespace, mounted read-only by the gateway, which needs no API access at all). Each
VoiceAgent owns one data key, `<namespace>_<name>`, derived from its own metadata and
never from its spec; its credentials are read from its own namespace only. So nothing one
namespace applies can route another namespace's calls or reach its credentials: the URL
path `/v1/<provider>/<namespace>/<name>/…` selects exactly one key, written only for the
VoiceAgent of that name in that namespace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard import kube, reasons
from switchboard.api.common import SecretKeyRef, parse_duration
from switchboard.api.mediastreams import MediaStreams
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.api.web import WebSessions
from switchboard.config import OperatorConfig
from switchboard.names import labels

SecretReader = Callable[[str, str, str], Awaitable[list[str]]]
ROOM_PREFIX = "stream-"
ROUTES_COMPONENT = "gateway-routes"


@dataclass(frozen=True)
class StreamsOutcome:
    """MediaStreamsReady for one pass; `declared` False: no spec.mediaStreams (no condition)."""

    declared: bool
    ok: bool = False
    reason: str = ""
    message: str = ""
    webhooks: tuple[tuple[str, str], ...] = ()  # (provider, answer URL)
    retry_s: float | None = None


NOT_DECLARED = StreamsOutcome(declared=False)


def route_key(namespace: str, name: str) -> str:
    """The routes Secret's data key: '_' is in neither a namespace nor an object name."""
    return f"{namespace}_{name}"


def webhooks(
    base_url: str, namespace: str, name: str, streams: MediaStreams
) -> list[tuple[str, str]]:
    base = base_url.rstrip("/")
    return [
        (p.provider, f"{base}/v1/{p.provider}/{namespace}/{name}/answer") for p in streams.providers
    ]


def web_access(web: WebSessions, embed_key: str | None) -> dict[str, Any]:
    """The gateway's WebAccess: the embed key only as its SHA-256, never usable from the file."""
    access: dict[str, Any] = {
        "allowedOrigins": list(web.allowed_origins),
        "maxSessions": web.max_concurrent_sessions,
        "sessionTtl": int(parse_duration(web.session_ttl).total_seconds()),
        "demo": web.demo_page,
    }
    if embed_key is not None:
        access["embedKeySha256"] = hashlib.sha256(embed_key.encode()).hexdigest()
    return access


def route(
    namespace: str,
    name: str,
    agent_name: str,
    streams: MediaStreams | None,
    credentials: Mapping[str, str],
    web: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The gateway's route (its config.Route): where to dispatch, each provider's credential."""
    providers = {
        p.provider: {
            ("publicKey" if p.provider == "telnyx" else "authToken"): credentials[p.provider]
        }
        for p in (streams.providers if streams else [])
    }
    document: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "agentName": agent_name,
        "roomPrefix": ROOM_PREFIX,
        "providers": providers,
    }
    if web is not None:
        document["web"] = web
    return document


async def _publish(config: OperatorConfig, key: str, value: str | None) -> None:
    if config.gateway_routes_secret is None:
        return
    namespace, secret = config.gateway_routes_secret
    await kube.put_secret_key(namespace, secret, key, value, labels(ROUTES_COMPONENT, secret))


async def unpublish(config: OperatorConfig, namespace: str, name: str) -> None:
    """The VoiceAgent is gone (or stopped taking streams): the gateway refuses its calls."""
    await _publish(config, route_key(namespace, name), None)


async def sync_streams(
    config: OperatorConfig,
    namespace: str,
    name: str,
    agent_name: str,
    spec: VoiceAgentSpec,
    read_secret: SecretReader,
) -> StreamsOutcome:
    """Publish (or withdraw) this VoiceAgent's route; say how it went, naming the field."""
    key = route_key(namespace, name)
    streams = spec.media_streams
    web = spec.web if spec.web is not None and spec.web.enabled else None
    if streams is None and web is None:
        await _publish(config, key, None)
        return NOT_DECLARED
    field = "spec.mediaStreams" if streams is not None else "spec.web"
    if config.gateway_public_url is None or config.gateway_routes_secret is None:
        return StreamsOutcome(
            True,
            reason=reasons.GATEWAY_NOT_CONFIGURED,
            message=f"{field}: this operator has no media-stream gateway configured",
        )
    hooks = tuple(webhooks(config.gateway_public_url, namespace, name, streams)) if streams else ()
    if spec.livekit is not None:
        await _publish(config, key, None)
        return StreamsOutcome(
            True,
            reason=reasons.STREAMS_NEED_DEFAULT_LIVEKIT,
            message=f"{field}: the gateway bridges into the operator's default "
            "LiveKit only; remove spec.livekit or use SIP",
            webhooks=hooks,
        )
    refs: list[tuple[str, str, SecretKeyRef]] = [
        (
            entry.provider,
            f"spec.mediaStreams.providers[{index}].credentialsSecretRef",
            entry.credentials_secret_ref,
        )
        for index, entry in enumerate(streams.providers if streams else [])
    ]
    if web is not None and web.embed_key_secret_ref is not None:
        refs.append(("embedKey", "spec.web.embedKeySecretRef", web.embed_key_secret_ref))
    credentials: dict[str, str] = {}
    for slot, where, ref in refs:
        try:
            (credentials[slot],) = await read_secret(namespace, ref.name, ref.key)
        except kube.MissingSecretError as err:
            await _publish(config, key, None)  # stale credentials must not keep working
            return StreamsOutcome(
                True,
                reason=reasons.SECRET_NOT_FOUND,
                message=f"{where}: {err}",
                webhooks=hooks,
                retry_s=reasons.MISSING_CONFIG_RETRY_S,
            )
    access = web_access(web, credentials.pop("embedKey", None)) if web is not None else None
    document = route(namespace, name, agent_name, streams, credentials, access)
    await _publish(config, key, json.dumps(document, sort_keys=True))
    what = [f"{p.provider} streams" for p in (streams.providers if streams else [])]
    if web is not None:
        base = config.gateway_public_url.rstrip("/")
        what.append(f"web sessions ({base}/v1/web/{namespace}/{name}/session)")
        if web.demo_page:
            what.append(f"a demo page ({base}/demo/{namespace}/{name})")
    return StreamsOutcome(
        True,
        ok=True,
        reason=reasons.STREAMS_ROUTED,
        message=f"the gateway routes {', '.join(what)} to agent {agent_name}",
        webhooks=hooks,
    )
