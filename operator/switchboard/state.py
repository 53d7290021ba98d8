"""Process-wide operator state kept in kopf's memo: config, LiveKit clients, locks, metrics.

Kind-neutral: the VoiceAgent fleets live beside it in the memo (voiceagent.fleet.Fleets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard import kube
from switchboard.api.common import LiveKitRef
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.livekit.errors import DefaultLiveKitDeniedError, LiveKitNotConfiguredError
from switchboard.locks import LockRegistry
from switchboard.metrics import OperatorMetrics

LIVEKIT_SECRET_KEYS = ("url", "apiKey", "apiSecret")


@dataclass
class OperatorState:
    config: OperatorConfig
    clients: dict[LiveKitEndpoint, LiveKitClient] = field(default_factory=dict)
    locks: LockRegistry = field(default_factory=LockRegistry)
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)

    def client(self, endpoint: LiveKitEndpoint) -> LiveKitClient:
        if endpoint not in self.clients:
            self.clients[endpoint] = LiveKitClient(endpoint)
        return self.clients[endpoint]

    async def livekit_for(self, namespace: str, ref: LiveKitRef | None) -> LiveKitClient:
        """The client for spec.livekit (a Secret) or the operator default."""
        if ref is not None:
            url, key, secret = await kube.secret_keys(
                namespace, ref.secret_ref.name, *LIVEKIT_SECRET_KEYS
            )
            return self.client(LiveKitEndpoint(url, key, secret))
        if not self.config.may_use_default_livekit(namespace):
            raise DefaultLiveKitDeniedError(
                f"namespace {namespace!r} may not use the operator's default LiveKit "
                "(tenancy: isolated): set spec.livekit.secretRef to this team's own LiveKit"
            )
        default = self.config.default_livekit()
        if default is None:
            raise LiveKitNotConfiguredError(
                "spec.livekit is not set and the operator has no default LiveKit "
                "(LIVEKIT_URL/LIVEKIT_API_KEY/LIVEKIT_API_SECRET)"
            )
        return self.client(default)

    def forget(self, uid: str) -> None:
        self.locks.forget(uid)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
