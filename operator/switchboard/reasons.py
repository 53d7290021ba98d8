"""Condition reasons, their messages and retry delays: named once, mapped once, for every kind.

cert-manager style: a reason is a CamelCase constant a user can grep for, and each failure a
reconcile pass can meet maps to one (reason, message, retry delay) here, whichever kind met it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import kopf
from pydantic import ValidationError

from switchboard.kube import MissingConfigMapError, MissingSecretError
from switchboard.livekit.ensure import Outcome
from switchboard.livekit.errors import (
    DefaultLiveKitDeniedError,
    LiveKitError,
    LiveKitNotConfiguredError,
    LiveKitRejected,
    LiveKitUnavailable,
)
from switchboard.names import Owner, parse_owner_metadata
from switchboard.outcomes import REJECTED_BACKOFF_S, Event, Failure, backoff

# every kind
READY = "Ready"  # Ready=True
SYNCED = "Synced"  # the LiveKit objects match the spec
INVALID_SPEC = "InvalidSpec"  # the spec cannot work as written: fixed only by editing it
LIVEKIT_NOT_CONFIGURED = "LiveKitNotConfigured"  # no spec.livekit and no default LiveKit
DEFAULT_LIVEKIT_NOT_ALLOWED = "DefaultLiveKitNotAllowed"  # tenancy: isolated
SECRET_NOT_FOUND = "SecretNotFound"
CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
LIVEKIT_UNAVAILABLE = "LiveKitUnavailable"
CONFLICT = "Conflict"  # another object holds what this one needs (a number, a rule key)
REJECTED = "Rejected"  # LiveKit refused the object for another reason
KUBERNETES_API_ERROR = "KubernetesAPIError"  # an API call failed; retried with backoff
# SipTrunk
TRUNKS_READY = "TrunksReady"
# VoiceAgent
NO_TELEPHONY = "NoTelephony"
TRUNK_NOT_FOUND = "TrunkNotFound"
TRUNK_NOT_READY = "TrunkNotReady"
NUMBER_NOT_ON_TRUNK = "NumberNotOnTrunk"
WORKERS_AVAILABLE = "WorkersAvailable"
NO_READY_WORKERS = "NoReadyWorkers"
# OutboundCall / CallCampaign
NO_OUTBOUND = "TrunkHasNoOutbound"  # the referenced SipTrunk has no spec.outbound
NUMBER_NOT_ON_TRUNK_OUTBOUND = "FromNotOnTrunk"  # spec.from is not one of its numbers
VOICEAGENT_NOT_FOUND = "VoiceAgentNotFound"
VOICEAGENT_NOT_READY = "VoiceAgentNotReady"
CROSS_NAMESPACE = "CrossNamespaceRef"  # a reference to another namespace (tenancy)
LIVEKIT_MISMATCH = "LiveKitMismatch"  # agent and trunk are on different LiveKits
WAITING_FOR_CAPACITY = "WaitingForCapacity"  # the namespace's outbound cap is full
DISPATCHED = "Dispatched"  # intent recorded, the agent dispatched; not dialled yet
DIALING = "Dialing"  # a worker claimed the call and sent the INVITE
ANSWERED = "Answered"
CALL_COMPLETED = "CallCompleted"
CALL_FAILED = "CallFailed"  # busy, no-answer, rejected or failed: the result says which
WORKER_LOST = "WorkerLost"  # dialled, then no outcome within its deadline: never redialled
HUNG_UP = "HungUp"  # deleted in flight: the room was deleted, the call hung up
INVALID_TARGET = "InvalidTarget"  # a campaign row the operator could not use
# VoiceAgent MediaStreamsReady
STREAMS_ROUTED = "StreamsRouted"  # the gateway has the route; status lists the webhooks
GATEWAY_NOT_CONFIGURED = "GatewayNotConfigured"  # the operator has no gateway settings
STREAMS_NEED_DEFAULT_LIVEKIT = "StreamsNeedDefaultLiveKit"  # the gateway uses the default
# event reasons
CREATED, ADOPTED, UPDATED, RECREATED = "Created", "Adopted", "Updated", "Recreated"
NOT_OWNED = "NotOwned"  # status named a LiveKit object this one does not own
DELETED = "Deleted"
ORPHANED = "Orphaned"
SCALED_UP, SCALED_DOWN = "ScaledUp", "ScaledDown"

MISSING_CONFIG_RETRY_S = 30.0  # a Secret or ConfigMap may be created any moment


def kopf_error(why: Failure) -> kopf.TemporaryError | kopf.PermanentError:
    """What the handler raises for `why`: retry after its delay, or stop until the spec changes."""
    if why.retry_s is None:
        return kopf.PermanentError(why.message)
    return kopf.TemporaryError(why.message, delay=why.retry_s)


def config_failure(
    err: MissingSecretError | LiveKitNotConfiguredError, retry_s: float = MISSING_CONFIG_RETRY_S
) -> Failure:
    """A referenced Secret/ConfigMap or the LiveKit to use is missing; the message names it."""
    if isinstance(err, DefaultLiveKitDeniedError):
        return Failure(DEFAULT_LIVEKIT_NOT_ALLOWED, str(err), retry_s)
    if isinstance(err, LiveKitNotConfiguredError):
        return Failure(LIVEKIT_NOT_CONFIGURED, str(err), retry_s)
    reason = CONFIG_MAP_NOT_FOUND if isinstance(err, MissingConfigMapError) else SECRET_NOT_FOUND
    return Failure(reason, str(err), retry_s)


def conflict_message(what: str, err: LiveKitRejected, owner: Owner, holders: Iterable[str]) -> str:
    """LiveKit's refusal of `what`, naming the other objects of ours that hold it; `holders`
    are the metadata of the LiveKit objects the refusal names."""
    names = set()
    for metadata in holders:
        data = parse_owner_metadata(metadata)
        if data and data.get("uid") != owner.uid:
            names.add(f"{data.get('kind', '')} {data['namespace']}/{data['name']}".strip())
    held = f" (conflicts with {', '.join(sorted(names))})" if names else ""
    return f"LiveKit rejected the {what}: {err.message}{held}"


def livekit_failure(err: LiveKitError, retry: int, described: str | None = None) -> Failure:
    """LiveKit down (retry with backoff) or refusing (slowly); `described` names a conflict."""
    if isinstance(err, LiveKitUnavailable):
        return Failure(
            LIVEKIT_UNAVAILABLE, f"LiveKit unreachable or failing: {err}", backoff(retry)
        )
    reason = CONFLICT if "conflict" in err.message.lower() else REJECTED
    return Failure(reason, described or str(err), max(REJECTED_BACKOFF_S, backoff(retry)))


def kube_failure(err: Exception, retry: int) -> Failure:
    """An API call the pass did not expect to fail: retried on the pass's backoff, not kopf's
    60 s default for an unknown exception (a 409 or 503 under load is gone in a second).

    Only the status line is kept: an ApiException's body and headers may quote the object."""
    status, why = getattr(err, "status", None), getattr(err, "reason", None)
    what = f"{status} {why}" if status else type(err).__name__
    return Failure(KUBERNETES_API_ERROR, f"Kubernetes API call failed: {what}", backoff(retry))


def invalid_spec(
    err: ValidationError, renames: Mapping[str, str] | None = None, prefix: str = "spec"
) -> Failure:
    """A spec the CRD schema admitted but a model refused; the message names each field.

    `prefix` is where the refused model sits in the object ("" for a whole-object model).
    """
    return Failure(INVALID_SPEC, field_errors(err, prefix=prefix, renames=renames), None)


def field_errors(
    err: ValidationError, prefix: str = "spec", renames: Mapping[str, str] | None = None
) -> str:
    """`spec.a.b[0].c: message; …` for a pydantic error, its first key mapped by `renames`.

    A model-level check (an empty location) is reported against `prefix` itself. Input
    values are left out: they may be credentials. A field a model forbids (the podTemplate
    allow-list) reads "not allowed" rather than pydantic's "Extra inputs are not permitted".
    """
    renames = renames or {}
    parts = []
    for e in err.errors(include_url=False, include_input=False):
        path = prefix
        for i, key in enumerate(e["loc"]):
            if isinstance(key, int):
                path += f"[{key}]"
            else:
                path += ("." if path else "") + (renames.get(key, key) if i == 0 else key)
        message = "not allowed" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def conflict(message: str, retry: int) -> Failure:
    """Another object holds what this one needs (an agent name, a worker object's name).
    Retried slowly: it clears when the other goes, or when this spec is edited."""
    return Failure(CONFLICT, message, max(REJECTED_BACKOFF_S, backoff(retry)))


_VERBS = {
    "created": "Created",
    "adopted": "Adopted",
    "updated": "Updated",
    "recreated": "Recreated",
}


def outcome_events(what: str, outcome: Outcome) -> list[Event]:
    """What `ensure` did to `what` (nothing when unchanged), and a Warning when status
    named an object this owner does not own."""
    events = []
    if outcome.foreign is not None:
        events.append(
            Event(
                "Warning",
                NOT_OWNED,
                f"status named {what} {outcome.foreign}, "
                "which this object does not own: left alone, not adopted",
            )
        )
    normal = outcome_event(what, outcome)
    return events + ([normal] if normal else [])


def outcome_event(what: str, outcome: Outcome) -> Event | None:
    """A Normal event describing what `ensure` did to `what` (None when nothing changed)."""
    if outcome.action == "unchanged":
        return None
    verb = _VERBS[outcome.action]
    detail = f" (drift in {', '.join(outcome.drift)})" if outcome.drift else ""
    if outcome.removed_duplicates:
        detail += f"; removed duplicates {', '.join(outcome.removed_duplicates)}"
    return Event("Normal", verb, f"{verb} {what} {outcome.object_id}{detail}")
