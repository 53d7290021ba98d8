"""Kopf handlers for VoiceAgent: spec sync (rule + workload), worker watches, trunk nudges."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError
from switchboard_contract import AgentConfig
from switchboard_contract.report import WorkerReport

from switchboard import kube, reasons
from switchboard.api import API_VERSION, GROUP, VERSION
from switchboard.api.common import LiveKitRef, livekit_ref_of
from switchboard.api.voiceagent import Scaling, VoiceAgentSpec
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.livekit.ensure import remove
from switchboard.livekit.errors import LiveKitError, LiveKitNotConfiguredError
from switchboard.names import (
    TRUNKS_ANNOTATION,
    VOICEAGENT_ANNOTATION,
    VOICEAGENT_LABEL,
    WORKER_COMPONENT,
    Owner,
    worker_name,
)
from switchboard.outcomes import Failure, Result
from switchboard.scaling import ScalingParams, decide
from switchboard.siptrunk.index import NO_TRUNKS, TrunkIndex
from switchboard.state import OperatorState
from switchboard.voiceagent import streams, workload
from switchboard.voiceagent.builders import SPEC_PATH_OF_CONFIG, agent_config, agent_name
from switchboard.voiceagent.claims import (
    NO_CLAIMS,
    AgentNameClaim,
    ClaimIndex,
    EndpointOf,
    holder_of,
)
from switchboard.voiceagent.fleet import AgentFleet, Fleets, pod_info
from switchboard.voiceagent.reconcile import dispatch_ops, sync_rule
from switchboard.voiceagent.reports import ReportResult, Target, Unserved, report_token
from switchboard.voiceagent.scaler import rescale
from switchboard.voiceagent.status import SpecOutcome

PLURAL = "voiceagents"
RESOURCE = (GROUP, VERSION, PLURAL)
WORKER_LABELS = {"app.kubernetes.io/component": WORKER_COMPONENT}


def _remember(fleet: AgentFleet, meta: Mapping[str, Any]) -> None:
    """The VoiceAgent's identity: events name it, and report tokens are checked against its
    UID, so the newest UID seen (a re-created VoiceAgent's) must be here before any report."""
    fleet.ref = {
        "apiVersion": API_VERSION,
        "kind": "VoiceAgent",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid")},
    }


def _fleet(fleets: Fleets, body: kopf.Body) -> AgentFleet:
    meta = body["metadata"]
    fleet = fleets.get(meta["namespace"], meta["name"])
    _remember(fleet, meta)
    if fleet.last_status is None:
        fleet.last_status = dict(body.get("status") or {})  # resume: diff against what is stored
    return fleet


def _created(body: kopf.Body) -> str:
    return str(body["metadata"].get("creationTimestamp") or "")


def _endpoint_of(state: OperatorState) -> EndpointOf:
    async def endpoint(namespace: str, ref: LiveKitRef | None) -> LiveKitEndpoint:
        return (await state.livekit_for(namespace, ref)).endpoint

    return endpoint


async def _instructions(namespace: str, spec: VoiceAgentSpec) -> str | None:
    if spec.instructions_from is None:
        return spec.instructions
    ref = spec.instructions_from.config_map_key_ref
    return await kube.read_config_map_key(namespace, ref.name, ref.key)


async def _sync(
    body: kopf.Body, retry: int, memo: kopf.Memo, trunks: TrunkIndex, claims: ClaimIndex
) -> None:
    state: OperatorState = memo.state
    meta = body["metadata"]
    owner = Owner("VoiceAgent", meta["namespace"], meta["name"], meta["uid"])
    fleet = _fleet(memo.fleets, body)
    async with state.locks[owner.uid]:
        try:
            result = await _spec_pass(state, fleet, body, owner, retry, trunks, claims)
        except kube.API_ERRORS as err:
            # The status is not written: it is the API server that is failing.
            raise reasons.kopf_error(reasons.kube_failure(err, retry)) from None
        fleet.spec = result.value
    for event in result.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    await rescale(fleet)  # the only writer of the status, and it now has this pass's outcome
    if result.failure is not None:
        raise reasons.kopf_error(result.failure)
    media = result.value.streams
    if media is not None and media.retry_s is not None:
        raise kopf.TemporaryError(media.message, delay=media.retry_s)


async def _spec_pass(
    state: OperatorState,
    fleet: AgentFleet,
    body: kopf.Body,
    owner: Owner,
    retry: int,
    trunks: TrunkIndex,
    claims: ClaimIndex,
) -> Result[SpecOutcome]:
    """Validate, resolve config, ensure the dispatch rule and the workload; say how it went."""
    generation = int(body["metadata"].get("generation", 0))
    stored = fleet.last_status or {}
    # Until a pass gets further, keep what the status already records.
    kept_name, kept_rule = stored.get("agentName"), stored.get("dispatchRuleID")

    def failed(params: ScalingParams, why: Failure, name: str | None = None) -> Result[SpecOutcome]:
        outcome = SpecOutcome(
            generation, params, why.reason, why.message, why, name or kept_name, kept_rule
        )
        return Result(outcome, [], why)

    try:
        spec = VoiceAgentSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as err:
        # the CRD admitted what the model refuses (e.g. a 10^14 s duration): say so, stop
        previous = fleet.spec.params if fleet.spec else ScalingParams.from_spec(Scaling())
        return failed(previous, reasons.invalid_spec(err))
    # known before anything can fail, so every failure below still gets its condition
    params = ScalingParams.from_spec(spec.scaling)
    name = agent_name(owner.namespace, owner.name, spec)
    try:
        lk = await state.livekit_for(owner.namespace, spec.livekit)
        instructions = await _instructions(owner.namespace, spec)
    except (kube.MissingSecretError, LiveKitNotConfiguredError) as err:
        return failed(params, reasons.config_failure(err), name)
    try:
        config = agent_config(owner.namespace, owner.name, spec, instructions, state.config.pricing)
    except ValidationError as err:
        # the API model holds the worker's rules, so this is a bug guard: never a retry loop
        return failed(params, reasons.invalid_spec(err, renames=SPEC_PATH_OF_CONFIG))
    if spec.agent_name:
        me = AgentNameClaim(owner.namespace, owner.name, owner.uid, _created(body), spec.livekit)
        held = await holder_of(spec.agent_name, me, lk.endpoint, claims, _endpoint_of(state))
        if held is not None:
            message = (
                f"spec.agentName {spec.agent_name!r} is already used on this LiveKit by "
                f"VoiceAgent {held.namespace}/{held.name}"
            )
            return failed(params, reasons.conflict(message, retry), name)
    try:
        # the workers first: a rule must not route calls to an agent nobody serves
        await _apply_workload(state, fleet, params, body, spec, config, lk.endpoint)
    except kube.NotOwnedError as err:
        return failed(params, reasons.conflict(str(err), retry), name)
    media = await streams.sync_streams(
        state.config, owner.namespace, owner.name, name, spec, kube.secret_keys
    )
    # Only the referenced SipTrunks, not the whole index.
    wanted = [(owner.namespace, t) for t in (spec.telephony.trunks if spec.telephony else [])]
    index = {key: next(iter(trunks[key])) for key in wanted if key in trunks}
    rule = await sync_rule(
        spec,
        owner=owner,
        known_id=kept_rule,
        lk=lk,
        trunks=index,
        read_secret=kube.secret_keys,
        retry=retry,
    )
    outcome = SpecOutcome(
        generation,
        params,
        rule.value.reason,
        rule.value.message,
        rule.failure,
        agent_name=name,
        dispatch_rule_id=rule.value.rule_id,
        livekit=lk,
        streams=media,
    )
    return Result(outcome, rule.events, rule.failure)


async def _apply_workload(
    state: OperatorState,
    fleet: AgentFleet,
    params: ScalingParams,
    body: kopf.Body,
    spec: VoiceAgentSpec,
    config: AgentConfig,
    endpoint: LiveKitEndpoint,
) -> None:
    """ConfigMap, Secret, Deployment and PDB, owned by the VoiceAgent (GC deletes them)."""
    namespace, name = fleet.key
    cfg = state.config
    try:
        token = report_token(cfg.report_hmac_key(), namespace, name, body["metadata"]["uid"])
    except ValueError:
        token = ""  # reports disabled (logged at startup); workers still take calls
    secret = workload.worker_secret(
        namespace,
        name,
        endpoint.url,
        endpoint.api_key,
        endpoint.api_secret,
        token,
        pii_hash_key=cfg.pii_hash_key(namespace),
    )
    config_map = workload.config_map(namespace, name, config)
    now = time.monotonic()
    replicas = fleet.replicas
    if replicas is None:
        # First sight. After a restart or a peering takeover the Deployment watch may not
        # have delivered yet: keep what is there (busy workers may be in it), else start
        # at what the policy wants with no calls.
        replicas = await kube.deployment_replicas(namespace, worker_name(name))
    if replicas is None:
        replicas = decide(fleet.workers(now), 0, params, now).desired
    deployment = workload.deployment(
        namespace,
        name,
        spec,
        image=cfg.agent_image,
        replicas=replicas,
        config_hash=workload.content_hash(config_map, secret),
        report_url=cfg.report_url,
    )
    for manifest in (
        secret,
        config_map,
        deployment,
        workload.pod_disruption_budget(namespace, name),
    ):
        kopf.adopt(manifest, owner=body)
        await kube.apply_owned(manifest)
    fleet.observe_replicas(replicas)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def voiceagent_sync(
    *,
    body: kopf.Body,
    retry: int,
    memo: kopf.Memo,
    siptrunk_trunks: TrunkIndex = NO_TRUNKS,
    voiceagent_agent_names: ClaimIndex = NO_CLAIMS,
    **_: Any,
) -> None:
    await _sync(body, retry, memo, siptrunk_trunks, voiceagent_agent_names)


async def voiceagent_resync(
    *,
    body: kopf.Body,
    memo: kopf.Memo,
    siptrunk_trunks: TrunkIndex = NO_TRUNKS,
    voiceagent_agent_names: ClaimIndex = NO_CLAIMS,
    retry: int = 0,
    **_: Any,
) -> None:
    """Drift repair of the dispatch rule and the workload.

    A timer registered by `switchboard.handlers.register` (its interval is configuration)."""
    await _sync(body, retry, memo, siptrunk_trunks, voiceagent_agent_names)


@kopf.daemon(*RESOURCE, cancellation_timeout=5.0)
async def voiceagent_owner(
    *, name: str, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    """Runs while this replica serves the VoiceAgent. kopf stops every daemon when peering
    pauses the operator, so a standby never scales from its stale view; it acts again
    (after a fresh settling window) once kopf resumes it and restarts this daemon."""
    fleet = memo.fleets.get(meta["namespace"], name)
    _remember(fleet, meta)  # the daemon may start before the spec handler: reports need it
    fleet.own(time.monotonic())
    try:
        await rescale(fleet)  # decisions skipped before ownership happen now
        await stopped.wait()
    finally:
        fleet.release()


@kopf.on.delete(*RESOURCE)
async def voiceagent_delete(*, body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    """Remove the dispatch rule; the workload goes by owner-reference garbage collection."""
    state: OperatorState = memo.state
    meta = body["metadata"]
    owner = Owner("VoiceAgent", meta["namespace"], meta["name"], meta["uid"])
    try:
        lk = await state.livekit_for(owner.namespace, livekit_ref_of(body.get("spec")))
    except (kube.MissingSecretError, LiveKitNotConfiguredError) as err:
        kopf.warn(body, reason=reasons.ORPHANED, message=f"Cannot reach LiveKit to delete: {err}")
    else:
        try:
            await remove(dispatch_ops(lk), owner)
        except LiveKitError as err:
            raise reasons.kopf_error(reasons.livekit_failure(err, retry)) from None
    await streams.unpublish(state.config, owner.namespace, owner.name)
    memo.fleets.drop(owner.namespace, owner.name)
    state.forget(owner.uid)


@kopf.index(*RESOURCE)
def voiceagent_trunk_refs(
    *, namespace: str | None, name: str, spec: kopf.Spec, annotations: kopf.Annotations, **_: Any
) -> dict[tuple[str, str], tuple[str, str | None]]:  # see siptrunk.index.TrunkRefIndex
    """(namespace, SipTrunk) -> (VoiceAgent, its trunks-version annotation)."""
    assert namespace is not None
    trunks = (spec.get("telephony") or {}).get("trunks") or []
    seen = annotations.get(TRUNKS_ANNOTATION)
    return {(namespace, trunk): (name, seen) for trunk in trunks}


def _worker_fleet(fleets: Fleets, namespace: str | None, meta: kopf.Meta) -> AgentFleet | None:
    """The fleet a worker pod/Deployment belongs to. Created on first sight: after a restart
    the pod watch may list pods before the VoiceAgent's resume handler has run."""
    va = (meta.annotations or {}).get(VOICEAGENT_ANNOTATION) or meta.labels.get(VOICEAGENT_LABEL)
    if namespace is None or va is None:
        return None
    return fleets.get(namespace, va)


@kopf.on.event("v1", "pods", labels=WORKER_LABELS)
async def worker_pod_changed(
    *,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    meta: kopf.Meta,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """Pods appearing, becoming ready or going away change the fleet: decide again now."""
    fleet = _worker_fleet(memo.fleets, namespace, meta)
    if fleet is None:
        return
    if kwargs.get("event", {}).get("type") == "DELETED":
        fleet.forget(name)
    else:
        fleet.observe_pod(pod_info(dict(body)))
    await rescale(fleet)


@kopf.on.event("apps", "v1", "deployments", labels=WORKER_LABELS)
async def worker_deployment_changed(
    *, namespace: str | None, meta: kopf.Meta, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    fleet = _worker_fleet(memo.fleets, namespace, meta)
    if fleet is None:
        return
    deleted = kwargs.get("event", {}).get("type") == "DELETED"
    fleet.observe_replicas(None if deleted else int((body.get("spec") or {}).get("replicas") or 0))


def report_target(fleets: Fleets, namespace: str, name: str) -> Target | Unserved:
    """What the report endpoint checks a report's token against (see reports.make_app)."""
    uid = fleets.uid(namespace, name)
    if uid is None:
        # Serving nothing at all means a paused (or just started) peering replica: the worker
        # retries at once, and the Service may pick the active replica.
        return "unknown" if fleets.serving() else "standby"
    return Target(uid, len(fleets.by_key[namespace, name].pods))


async def on_report(fleets: Fleets, report: WorkerReport, received: float) -> ReportResult:
    """A worker's call count changed: decide within this request, not on a poll."""
    fleet = fleets.by_key.get((report.namespace, report.voice_agent))
    if fleet is None or not fleet.owned:
        return "unknown" if fleets.serving() else "standby"
    if not fleet.accept(report, time.monotonic()):
        return "stale"  # nothing changed: no decision to make
    await rescale(fleet, fleets.decisions, received)
    return "accepted"
