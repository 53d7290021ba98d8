"""Agent names are unique per LiveKit: the index of explicit claims, and who holds a name.

A worker can register under any agent name on a LiveKit it has credentials for, and LiveKit
hands a job to any worker of that name, so two VoiceAgents sharing a name on one LiveKit
take each other's calls. Default names (`<namespace>/<name>`) cannot collide; explicit
`spec.agentName`s can, and the oldest VoiceAgent keeps the name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import kopf

from switchboard.api import GROUP, VERSION
from switchboard.api.common import LiveKitRef, livekit_ref_of
from switchboard.kube import MissingSecretError
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.livekit.errors import LiveKitNotConfiguredError


@dataclass(frozen=True)
class AgentNameClaim:
    """One VoiceAgent's explicit spec.agentName, with what orders it among claimants."""

    namespace: str
    name: str
    uid: str
    created: str  # metadata.creationTimestamp (RFC 3339 sorts as time)
    livekit: LiveKitRef | None

    def precedes(self, other: AgentNameClaim) -> bool:
        return (self.created, self.uid) < (other.created, other.uid)


ClaimIndex = Mapping[str, Collection[AgentNameClaim]]
NO_CLAIMS: ClaimIndex = MappingProxyType({})
EndpointOf = Callable[[str, LiveKitRef | None], Awaitable[LiveKitEndpoint]]


@kopf.index(GROUP, VERSION, "voiceagents")
def voiceagent_agent_names(
    *, namespace: str | None, name: str, uid: str, meta: kopf.Meta, spec: kopf.Spec, **_: Any
) -> dict[str, AgentNameClaim]:
    """spec.agentName -> its claim (VoiceAgents with the default name are not indexed)."""
    claimed = spec.get("agentName")
    if namespace is None or not isinstance(claimed, str) or not claimed:
        return {}
    created = str(meta.get("creationTimestamp") or "")
    ref = livekit_ref_of(dict(spec))
    return {claimed: AgentNameClaim(namespace, name, uid, created, ref)}


async def holder_of(
    agent_name: str,
    me: AgentNameClaim,
    mine: LiveKitEndpoint,
    claims: ClaimIndex,
    endpoint_of: EndpointOf,
) -> AgentNameClaim | None:
    """The VoiceAgent that holds `agent_name` on my LiveKit before me, if any.

    Another claimant counts only on the same LiveKit (URL and key); one whose LiveKit cannot
    be resolved runs no workers, so it holds nothing.
    """
    earlier = sorted(
        (c for c in claims.get(agent_name, ()) if c.uid != me.uid and c.precedes(me)),
        key=lambda c: (c.created, c.uid),
    )
    for claim in earlier:
        try:
            theirs = await endpoint_of(claim.namespace, claim.livekit)
        except (MissingSecretError, LiveKitNotConfiguredError):
            continue
        if (theirs.url, theirs.api_key) == (mine.url, mine.api_key):
            return claim
    return None
