"""Kopf indexes outbound calls read: agents, outbound trunks, and calls in flight per namespace."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import kopf

from switchboard.api import GROUP, VERSION
from switchboard.api.outbound import IN_FLIGHT
from switchboard.outbound.builders import AgentInfo, TrunkInfo

AgentIndex = Mapping[tuple[str, str], Collection[AgentInfo]]
OutTrunkIndex = Mapping[tuple[str, str], Collection[TrunkInfo]]
# namespace -> UIDs of its calls in Dialing/Ringing/InProgress: what the cap counts
InFlightIndex = Mapping[str, Collection[str]]
NO_AGENTS: AgentIndex = MappingProxyType({})
NO_OUT_TRUNKS: OutTrunkIndex = MappingProxyType({})
NO_IN_FLIGHT: InFlightIndex = MappingProxyType({})


def _secret(spec: Mapping[str, Any]) -> str | None:
    ref = ((spec.get("livekit") or {}).get("secretRef") or {}).get("name")
    return str(ref) if ref else None


@kopf.index(GROUP, VERSION, "voiceagents")
def outbound_agents(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], AgentInfo]:
    """(namespace, VoiceAgent) -> its effective agent name and LiveKit."""
    assert namespace is not None
    agent_name = status.get("agentName")
    return {(namespace, name): AgentInfo(agent_name or None, _secret(dict(spec)))}


@kopf.index(GROUP, VERSION, "siptrunks")
def outbound_trunks(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], TrunkInfo]:
    """(namespace, SipTrunk) -> its outbound trunk ID, caller-ID numbers and LiveKit."""
    assert namespace is not None
    outbound = spec.get("outbound") or {}
    return {
        (namespace, name): TrunkInfo(
            status.get("outboundTrunkID") or None,
            tuple(outbound.get("numbers") or ()),
            bool(outbound),
            _secret(dict(spec)),
        )
    }


@kopf.index(GROUP, VERSION, "outboundcalls")
def outbound_in_flight(
    *, namespace: str | None, uid: str | None, status: kopf.Status, **_: Any
) -> dict[str, str]:
    """namespace -> UID, for each call whose phase holds a slot of the namespace's cap.

    {} rather than None when it holds none: kopf keeps an object's old entries on None."""
    if namespace is None or uid is None or status.get("phase") not in IN_FLIGHT:
        return {}
    return {namespace: uid}
