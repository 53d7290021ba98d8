"""Process-wide operator state kept in kopf's memo: config, LiveKit clients, per-object locks."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from switchboard import kube
from switchboard.api.common import LiveKitRef
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.livekit.errors import LiveKitNotConfiguredError
from switchboard.metrics import OperatorMetrics, StateCollector
from switchboard.voiceagent.fleet import Fleets
from switchboard.voiceagent.scaler import DecisionClock

LIVEKIT_SECRET_KEYS = ("url", "apiKey", "apiSecret")


@dataclass
class OperatorState:
    config: OperatorConfig
    clients: dict[LiveKitEndpoint, LiveKitClient] = field(default_factory=dict)
    # One reconcile at a time per object: handlers, timers and secret-triggered resyncs
    # would otherwise race to create the same LiveKit object.
    locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    fleets: Fleets = field(default_factory=Fleets)
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    decisions: DecisionClock = field(init=False)

    def __post_init__(self) -> None:
        self.decisions = DecisionClock(observe=self.metrics.decision_seconds.observe)
        self.metrics.watch_state(
            StateCollector(clients=lambda: list(self.clients.values()), fleets=lambda: self.fleets)
        )

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
        default = self.config.default_livekit()
        if default is None:
            raise LiveKitNotConfiguredError(
                "spec.livekit is not set and the operator has no default LiveKit "
                "(LIVEKIT_URL/LIVEKIT_API_KEY/LIVEKIT_API_SECRET)"
            )
        return self.client(default)

    def forget(self, uid: str) -> None:
        self.locks.pop(uid, None)

    async def aclose(self) -> None:
        for fleet in self.fleets.by_key.values():
            for task in fleet.tasks:
                task.cancel()  # e.g. a re-dispatch sweep: its client is closed next
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
