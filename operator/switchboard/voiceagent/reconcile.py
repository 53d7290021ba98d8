"""One VoiceAgent dispatch-rule pass: check the SipTrunks, ensure the rule, say how it went.

Kopf-free like the SipTrunk pass; the handler turns the result into status and retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from livekit import api

from switchboard import reasons
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.kube import MissingSecretError
from switchboard.livekit.client import LiveKitClient
from switchboard.livekit.ensure import ObjectOps, ensure, remove
from switchboard.livekit.errors import LiveKitRejected, LiveKitUnavailable
from switchboard.names import Owner
from switchboard.outcomes import Event, Failure, Result, backoff
from switchboard.siptrunk.index import TrunkInfo
from switchboard.voiceagent.builders import DISPATCH, DISPATCH_FIELDS, dispatch_rule

SecretReader = Callable[[str, str, str], Awaitable[list[str]]]
# Waiting for a SipTrunk: retry soon, then back off to this. (A trunk turning Ready also
# nudges its VoiceAgents, but kopf may hold that until a pending retry is due.)
TRUNK_WAIT_S = 30.0


@dataclass(frozen=True)
class Rule:
    """The dispatch rule a pass leaves: its ID (kept when the pass fails) and, when it
    succeeds, LiveKitSynced's reason and message."""

    rule_id: str | None
    reason: str = reasons.SYNCED
    message: str = "LiveKit dispatch rule matches the spec"


RuleResult = Result[Rule]


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
    ids = err.conflicting_rule_ids
    rules = await lk.list_dispatch_rules(ids) if ids else []
    return reasons.conflict_message("dispatch rule", err, owner, (r.metadata for r in rules))


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
    kept = Rule(known_id)
    try:
        if spec.telephony is None:
            removed = await remove(ops, owner)
            events = [
                Event("Normal", reasons.DELETED, f"Deleted dispatch rule {i}") for i in removed
            ]
            return Result(
                Rule(None, reasons.NO_TELEPHONY, "no telephony: no dispatch rule"), events
            )
        ids, reason, message = check_trunks(spec, owner.namespace, trunks)
        if reason is not None:
            permanent = reason == reasons.NUMBER_NOT_ON_TRUNK
            retry_s = None if permanent else backoff(retry, cap=TRUNK_WAIT_S)
            return Result(kept, [], Failure(reason, message, retry_s))
        pin = ""
        ref = spec.telephony.dispatch.pin_secret_ref
        if ref is not None:
            (pin,) = await read_secret(owner.namespace, ref.name, ref.key)
        outcome = await ensure(ops, owner, dispatch_rule(owner, spec, ids, pin), known_id)
    except MissingSecretError as err:
        return Result(kept, [], reasons.config_failure(err, backoff(retry, cap=TRUNK_WAIT_S)))
    except LiveKitUnavailable as err:
        return Result(kept, [], reasons.livekit_failure(err, retry))
    except LiveKitRejected as err:
        why = reasons.livekit_failure(err, retry, await _describe_conflict(lk, err, owner))
        return Result(kept, [Event("Warning", why.reason, why.message)], why)
    events = reasons.outcome_events("dispatch rule", outcome)
    return Result(Rule(outcome.object_id), events)
