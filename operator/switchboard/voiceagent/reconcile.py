"""One VoiceAgent dispatch-rule pass: check trunks, ensure the rule, compute LiveKitSynced.

Kopf-free like the SipTrunk pass; the handler turns the result into status and retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livekit import api

from switchboard import reasons
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.kube import MissingSecretError
from switchboard.livekit.client import LiveKitClient
from switchboard.livekit.ensure import ObjectOps, ensure, remove
from switchboard.livekit.errors import LiveKitRejected, LiveKitUnavailable
from switchboard.names import Owner, parse_owner_metadata
from switchboard.outcomes import Event, backoff, outcome_event
from switchboard.voiceagent.builders import DISPATCH, DISPATCH_FIELDS, dispatch_rule

SecretReader = Callable[[str, str, str], Awaitable[list[str]]]
# Waiting for a SipTrunk: retry soon, then back off to this. (A trunk turning Ready also
# nudges its VoiceAgents, but kopf may hold that until a pending retry is due.)
TRUNK_WAIT_S = 30.0


@dataclass(frozen=True)
class TrunkInfo:
    """What a VoiceAgent needs from a SipTrunk (from the operator's SipTrunk index)."""

    inbound_trunk_id: str | None
    ready: bool
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class RuleResult:
    """LiveKitSynced as (status, reason, message), the rule ID, events and a retry delay."""

    synced: bool
    reason: str
    message: str
    rule_id: str | None
    events: list[Event] = field(default_factory=list)
    retry_after: float | None = None


def dispatch_ops(lk: LiveKitClient) -> ObjectOps[api.SIPDispatchRuleInfo]:
    return ObjectOps(
        role=DISPATCH,
        fields=DISPATCH_FIELDS,
        id_of=lambda r: r.sip_dispatch_rule_id,
        find=lk.list_dispatch_rules,
        create=lk.create_dispatch_rule,
        update=lk.update_dispatch_rule,
        delete=lk.delete_dispatch_rule,
    )


def check_trunks(
    spec: VoiceAgentSpec, namespace: str, trunks: Mapping[tuple[str, str], TrunkInfo]
) -> tuple[list[str], str | None, str]:
    """The inbound trunk IDs, or (reason, message) saying which SipTrunk is missing or unready."""
    assert spec.telephony is not None
    ids: list[str] = []
    numbers: set[str] = set()
    for name in spec.telephony.trunks:
        info = trunks.get((namespace, name))
        if info is None:
            return (
                [],
                reasons.TRUNK_NOT_FOUND,
                f"SipTrunk {name!r} not found in namespace {namespace!r}",
            )
        if not info.ready or not info.inbound_trunk_id:
            return [], reasons.TRUNK_NOT_READY, f"SipTrunk {name!r} has no Ready inbound trunk yet"
        ids.append(info.inbound_trunk_id)
        numbers.update(info.numbers)
    stray = sorted(set(spec.telephony.numbers) - numbers)
    if stray:
        return (
            [],
            reasons.NUMBER_NOT_ON_TRUNK,
            (f"spec.telephony.numbers {stray} are not numbers of the referenced SipTrunks"),
        )
    return ids, None, ""


async def _describe_conflict(lk: LiveKitClient, err: LiveKitRejected, owner: Owner) -> str:
    names = []
    if err.conflicting_rule_ids:
        for rule in await lk.list_dispatch_rules(err.conflicting_rule_ids):
            data = parse_owner_metadata(rule.metadata)
            if data and data.get("uid") != owner.uid:
                names.append(f"VoiceAgent {data['namespace']}/{data['name']}")
    held = f" (conflicts with {', '.join(sorted(set(names)))})" if names else ""
    return f"LiveKit rejected the dispatch rule: {err.message}{held}"


async def sync_rule(
    spec: VoiceAgentSpec,
    *,
    owner: Owner,
    known_id: str | None,
    lk: LiveKitClient,
    trunks: Mapping[tuple[str, str], TrunkInfo],
    read_secret: SecretReader,
    retry: int = 0,
) -> RuleResult:
    ops = dispatch_ops(lk)
    try:
        if spec.telephony is None:
            removed = await remove(ops, owner, known_id)
            events = [
                Event("Normal", reasons.DELETED, f"Deleted dispatch rule {i}") for i in removed
            ]
            message = "no telephony: no dispatch rule"
            return RuleResult(True, reasons.NO_TELEPHONY, message, None, events)
        ids, reason, message = check_trunks(spec, owner.namespace, trunks)
        if reason is not None:
            permanent = reason == reasons.NUMBER_NOT_ON_TRUNK
            retry_after = None if permanent else backoff(retry, cap=TRUNK_WAIT_S)
            return RuleResult(False, reason, message, known_id, [], retry_after)
        pin = ""
        ref = spec.telephony.dispatch.pin_secret_ref
        if ref is not None:
            (pin,) = await read_secret(owner.namespace, ref.name, ref.key)
        outcome = await ensure(ops, owner, dispatch_rule(owner, spec, ids, pin), known_id)
    except MissingSecretError as err:
        why = reasons.config_failure(err, retry_s=backoff(retry, cap=TRUNK_WAIT_S))
        return RuleResult(False, why.reason, why.message, known_id, [], why.retry_s)
    except LiveKitUnavailable as err:
        why = reasons.livekit_failure(err, retry)
        return RuleResult(False, why.reason, why.message, known_id, [], why.retry_s)
    except LiveKitRejected as err:
        why = reasons.livekit_failure(err, retry, await _describe_conflict(lk, err, owner))
        events = [Event("Warning", why.reason, why.message)]
        return RuleResult(False, why.reason, why.message, known_id, events, why.retry_s)
    event = outcome_event("dispatch rule", outcome)
    return RuleResult(
        True, reasons.SYNCED, "LiveKit dispatch rule matches the spec", outcome.object_id,
        [event] if event else [],
    )  # fmt: skip


def trunk_info(status: Mapping[str, Any], spec: Mapping[str, Any]) -> TrunkInfo:
    """Index value for a SipTrunk body (status + spec)."""
    conds = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
    numbers = tuple((spec.get("inbound") or {}).get("numbers") or [])
    return TrunkInfo(status.get("inboundTrunkID"), ready, numbers)
