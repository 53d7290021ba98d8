"""What VoiceAgents need from SipTrunks: the trunk index, and the watch that nudges them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import kopf

from switchboard import kube
from switchboard.api import GROUP, VERSION
from switchboard.conditions import is_true
from switchboard.names import TRUNKS_ANNOTATION

SIPTRUNKS, VOICEAGENTS = "siptrunks", "voiceagents"


@dataclass(frozen=True)
class TrunkInfo:
    """What a VoiceAgent needs from a SipTrunk."""

    inbound_trunk_id: str | None
    ready: bool
    numbers: tuple[str, ...]


# Handlers take kopf indexes as typed kwargs, read-only views of kopf.Index. kopf always
# passes them; the empty defaults only satisfy kopf's handler protocols under mypy.
# (namespace, SipTrunk) -> its TrunkInfo (kopf keeps a collection of values per key).
TrunkIndex = Mapping[tuple[str, str], Collection[TrunkInfo]]
# (namespace, SipTrunk) -> (VoiceAgent, its trunks-version annotation); the VoiceAgent
# package builds it (voiceagent_trunk_refs), this module only reads it.
TrunkRefIndex = Mapping[tuple[str, str], Collection[tuple[str, str | None]]]
NO_TRUNKS: TrunkIndex = MappingProxyType({})
NO_TRUNK_REFS: TrunkRefIndex = MappingProxyType({})


def trunk_info(status: Mapping[str, Any], spec: Mapping[str, Any]) -> TrunkInfo:
    """The index value for a SipTrunk body (status + spec)."""
    ready = is_true(list(status.get("conditions") or []), "Ready")
    numbers = tuple((spec.get("inbound") or {}).get("numbers") or [])
    return TrunkInfo(status.get("inboundTrunkID"), ready, numbers)


@kopf.index(GROUP, VERSION, SIPTRUNKS)
def siptrunk_trunks(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], TrunkInfo]:
    """(namespace, SipTrunk) -> the inbound trunk ID, readiness and numbers VoiceAgents need."""
    assert namespace is not None
    return {(namespace, name): trunk_info(dict(status), dict(spec))}


@kopf.on.event(GROUP, VERSION, SIPTRUNKS)
async def siptrunk_changed(
    *,
    event: kopf.RawEvent,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    voiceagent_trunk_refs: TrunkRefIndex = NO_TRUNK_REFS,
    **_: Any,
) -> None:
    """A SipTrunk became ready, changed its ID or numbers: its VoiceAgents re-sync now."""
    if namespace is None:
        return
    info = trunk_info(dict(body.get("status") or {}), dict(body.get("spec") or {}))
    version = kube.short_version(info.inbound_trunk_id, info.ready, *info.numbers)
    if event.get("type") == "DELETED":
        version = "deleted"
    for va_name, seen in voiceagent_trunk_refs.get((namespace, name), []):
        await kube.nudge(VOICEAGENTS, namespace, va_name, TRUNKS_ANNOTATION, seen, name, version)
