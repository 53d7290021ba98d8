"""Kopf handlers for SipTrunk: thin wrappers that read the spec, reconcile and patch status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from switchboard import kube, reasons
from switchboard.api import GROUP, VERSION
from switchboard.api.common import livekit_ref_of
from switchboard.api.siptrunk import SipTrunk, SipTrunkSpec
from switchboard.conditions import set_condition, status_patch
from switchboard.livekit.ensure import remove
from switchboard.livekit.errors import LiveKitError, LiveKitNotConfiguredError
from switchboard.names import CREDENTIALS_ANNOTATION, Owner
from switchboard.outcomes import Event, Failure
from switchboard.siptrunk.reconcile import READY, inbound_ops, outbound_ops, reconcile
from switchboard.state import OperatorState

PLURAL = "siptrunks"
SecretRefIndex = kopf.Index[tuple[str, str], tuple[str, str | None]]
RESOURCE = (GROUP, VERSION, PLURAL)


def _owner(body: kopf.Body) -> Owner:
    meta = body["metadata"]
    return Owner("SipTrunk", meta["namespace"], meta["name"], meta["uid"])


def _post(body: kopf.Body, events: list[Event]) -> None:
    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def _patch_status(patch: kopf.Patch, old: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in status_patch(old, new).items():
        patch.status[key] = value


def referenced_secrets(spec: SipTrunkSpec) -> set[str]:
    refs = {
        section.auth_secret_ref.name
        for section in (spec.inbound, spec.outbound)
        if section is not None and section.auth_secret_ref is not None
    }
    if spec.livekit is not None:
        refs.add(spec.livekit.secret_ref.name)
    return refs


async def _sync(body: kopf.Body, patch: kopf.Patch, retry: int, memo: kopf.Memo) -> None:
    state: OperatorState = memo.state
    owner = _owner(body)
    generation = int(body["metadata"].get("generation", 0))
    old = dict(body.get("status") or {})

    def refuse(why: Failure) -> kopf.TemporaryError | kopf.PermanentError:
        """Ready=False for `why` before any LiveKit work; the error for the handler to raise."""
        conditions = set_condition(
            list(old.get("conditions", [])),
            READY,
            False,
            why.reason,
            why.message,
            generation=generation,
            now=datetime.now(UTC),
        )
        _patch_status(patch, old, {**old, "conditions": conditions})
        return reasons.kopf_error(why)

    try:
        trunk = SipTrunk.model_validate(dict(body))
    except ValidationError as err:
        # the CRD admitted what the model refuses: say which field, and stop retrying
        raise refuse(reasons.invalid_spec(err, prefix="")) from None
    try:
        async with state.locks[owner.uid]:
            try:
                lk = await state.livekit_for(owner.namespace, trunk.spec.livekit)
            except (kube.MissingSecretError, LiveKitNotConfiguredError) as err:
                raise refuse(reasons.config_failure(err)) from None
            result = await reconcile(
                trunk,
                owner=owner,
                generation=generation,
                lk=lk,
                read_secret=kube.secret_keys,
                now=datetime.now(UTC),
                retry=retry,
            )
    except kube.API_ERRORS as err:
        raise reasons.kopf_error(reasons.kube_failure(err, retry)) from None
    _patch_status(patch, old, result.value)
    _post(body, result.events)
    if result.failure is not None and result.failure.retry_s is not None:
        raise reasons.kopf_error(result.failure)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def siptrunk_sync(
    *, body: kopf.Body, patch: kopf.Patch, retry: int, memo: kopf.Memo, **_: Any
) -> None:
    await _sync(body, patch, retry, memo)


async def siptrunk_resync(
    *, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int = 0, **_: Any
) -> None:
    """Drift repair: a trunk edited or deleted out of band in LiveKit comes back.

    A timer registered by `switchboard.handlers.register` (its interval is configuration)."""
    await _sync(body, patch, retry, memo)


@kopf.on.delete(*RESOURCE)
async def siptrunk_delete(*, body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    state: OperatorState = memo.state
    owner = _owner(body)
    raw = dict(body.get("spec") or {})
    if raw.get("deletionPolicy") == "Orphan":
        kopf.info(body, reason=reasons.ORPHANED, message="Left the LiveKit trunks in place")
        state.forget(owner.uid)
        return
    try:
        lk = await state.livekit_for(owner.namespace, livekit_ref_of(raw))
    except (kube.MissingSecretError, LiveKitNotConfiguredError) as err:
        # Without credentials nothing can be deleted; blocking deletion forever helps no one.
        kopf.warn(body, reason=reasons.ORPHANED, message=f"Cannot reach LiveKit to delete: {err}")
        return
    async with state.locks[owner.uid]:
        try:
            deleted = [
                *await remove(inbound_ops(lk), owner),
                *await remove(outbound_ops(lk), owner),
            ]
        except LiveKitError as err:
            raise reasons.kopf_error(reasons.livekit_failure(err, retry)) from None
    kopf.info(body, reason=reasons.DELETED, message=f"Deleted LiveKit trunks {', '.join(deleted)}")
    state.forget(owner.uid)


@kopf.index(*RESOURCE)
def siptrunk_secret_refs(
    *, namespace: str | None, name: str, spec: kopf.Spec, annotations: kopf.Annotations, **_: Any
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(namespace, Secret name) -> (SipTrunk name, its credentials-version annotation)."""
    assert namespace is not None  # SipTrunk is namespaced
    parsed = SipTrunkSpec.model_validate(dict(spec))
    seen = annotations.get(CREDENTIALS_ANNOTATION)
    return {(namespace, secret): (name, seen) for secret in referenced_secrets(parsed)}


@kopf.on.event("v1", "secrets")
async def secret_changed(
    *,
    event: kopf.RawEvent,
    namespace: str | None,
    name: str,
    meta: kopf.Meta,
    **kwargs: Any,
) -> None:
    """Credential rotation: nudge each SipTrunk using this Secret so it re-syncs in seconds.

    The nudge is an annotation holding the Secrets' resourceVersions, never their data;
    an unchanged version (e.g. the initial listing after a restart) writes nothing.
    """
    if namespace is None:
        return
    refs: SecretRefIndex = kwargs["siptrunk_secret_refs"]
    version = "deleted" if event.get("type") == "DELETED" else str(meta.get("resourceVersion"))
    for trunk_name, seen in refs.get((namespace, name), []):
        await kube.nudge(PLURAL, namespace, trunk_name, CREDENTIALS_ANNOTATION, seen, name, version)
