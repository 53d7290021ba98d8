"""Kopf handlers for VoiceAgent: spec sync (rule + workload), worker watches, trunk nudges."""

from __future__ import annotations

import time
from typing import Any

import kopf
from pydantic import ValidationError
from switchboard_contract import AgentConfig
from switchboard_contract.report import WorkerReport

from switchboard import kube, reasons
from switchboard.api import API_VERSION, GROUP, VERSION
from switchboard.api.common import livekit_ref_of
from switchboard.api.voiceagent import Scaling, VoiceAgentSpec
from switchboard.conditions import set_condition
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
from switchboard.scaling import ScalingParams, decide
from switchboard.siptrunk.handlers import RESYNC_SECONDS
from switchboard.state import OperatorState
from switchboard.voiceagent import workload
from switchboard.voiceagent.builders import SPEC_PATH_OF_CONFIG, agent_config, agent_name
from switchboard.voiceagent.fleet import AgentFleet, pod_info
from switchboard.voiceagent.reconcile import TrunkInfo, dispatch_ops, sync_rule, trunk_info
from switchboard.voiceagent.reports import ReportResult, report_token
from switchboard.voiceagent.scaler import LIVEKIT_SYNCED, rescale

PLURAL = "voiceagents"
RESOURCE = (GROUP, VERSION, PLURAL)
WORKER_LABELS = {"app.kubernetes.io/component": WORKER_COMPONENT}
TrunkIndex = kopf.Index[tuple[str, str], TrunkInfo]


def _fleet(state: OperatorState, body: kopf.Body) -> AgentFleet:
    meta = body["metadata"]
    fleet = state.fleets.get(meta["namespace"], meta["name"])
    fleet.ref = {"apiVersion": API_VERSION, "kind": "VoiceAgent",
                 "metadata": {k: meta[k] for k in ("name", "namespace", "uid")}}  # fmt: skip
    if fleet.last_status is None:
        fleet.last_status = dict(body.get("status") or {})  # resume: diff against what is stored
    return fleet


async def _instructions(namespace: str, spec: VoiceAgentSpec) -> str | None:
    if spec.instructions_from is None:
        return spec.instructions
    ref = spec.instructions_from.config_map_key_ref
    return await kube.read_config_map_key(namespace, ref.name, ref.key)


async def _sync(body: kopf.Body, retry: int, memo: kopf.Memo, trunks: TrunkIndex) -> None:
    state: OperatorState = memo.state
    meta = body["metadata"]
    owner = Owner("VoiceAgent", meta["namespace"], meta["name"], meta["uid"])
    fleet = _fleet(state, body)
    generation = int(meta.get("generation", 0))
    old_conditions = list((fleet.last_status or {}).get("conditions", []))
    try:
        spec = VoiceAgentSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as err:
        # the CRD admitted what the model refuses (e.g. a 10^14 s duration): say so, stop
        why = reasons.invalid_spec(err)
        conds = set_condition(old_conditions, LIVEKIT_SYNCED, False, why.reason, why.message,
                              generation=generation, now=kube.utcnow())  # fmt: skip
        fleet.spec_status = {**fleet.spec_status, "conditions": conds}
        fleet.generation = generation
        fleet.params = fleet.params or ScalingParams.from_spec(Scaling())  # the defaults
        await rescale(fleet)
        raise reasons.kopf_error(why) from None

    def set_synced(ok: bool, reason: str, message: str, rule_id: str | None) -> None:
        conds = set_condition(old_conditions, LIVEKIT_SYNCED, ok, reason, message,
                              generation=generation, now=kube.utcnow())  # fmt: skip
        fleet.spec_status = {"conditions": conds, "agentName": config_name}
        if rule_id:
            fleet.spec_status["dispatchRuleID"] = rule_id

    config_name = agent_name(owner.namespace, owner.name, spec)
    async with state.locks[owner.uid]:
        # known before anything can fail, so every failure below still gets its condition
        fleet.params = ScalingParams.from_spec(spec.scaling)
        fleet.generation = generation
        try:
            lk = await state.livekit_for(owner.namespace, spec.livekit)
            instructions = await _instructions(owner.namespace, spec)
        except (kube.MissingSecretError, LiveKitNotConfiguredError) as err:
            why = reasons.config_failure(err)
            set_synced(False, why.reason, why.message, None)
            await rescale(fleet)
            raise reasons.kopf_error(why) from None
        try:
            config = agent_config(owner.namespace, owner.name, spec, instructions)
        except ValidationError as err:
            # the CRD schema cannot express every rule of the worker's config: a retry
            # would fail the same way, so say which field and stop
            why = reasons.invalid_spec(err, renames=SPEC_PATH_OF_CONFIG)
            set_synced(False, why.reason, why.message, None)
            await rescale(fleet)
            raise reasons.kopf_error(why) from None
        fleet.livekit, fleet.agent_name = lk, config_name
        # Only the referenced SipTrunks, not the whole index.
        wanted = [(owner.namespace, t) for t in (spec.telephony.trunks if spec.telephony else [])]
        index = {key: next(iter(trunks[key])) for key in wanted if key in trunks}
        rule = await sync_rule(
            spec, owner=owner, known_id=(fleet.last_status or {}).get("dispatchRuleID"),
            lk=lk, trunks=index, read_secret=kube.secret_keys, retry=retry,
        )  # fmt: skip
        set_synced(rule.synced, rule.reason, rule.message, rule.rule_id)
        await _apply_workload(state, fleet, body, spec, config, lk.endpoint)
    for event in rule.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    await rescale(fleet)
    if rule.retry_after is not None:
        raise kopf.TemporaryError(rule.message, delay=rule.retry_after)


async def _apply_workload(
    state: OperatorState, fleet: AgentFleet, body: kopf.Body, spec: VoiceAgentSpec,
    config: AgentConfig, endpoint: LiveKitEndpoint,
) -> None:  # fmt: skip
    """ConfigMap, Secret, Deployment and PDB, owned by the VoiceAgent (GC deletes them)."""
    namespace, name = fleet.key
    cfg = state.config
    try:
        token = report_token(cfg.report_hmac_key(), namespace, name)
    except ValueError:
        token = ""  # reports disabled (logged at startup); workers still take calls
    secret = workload.worker_secret(namespace, name, endpoint.url, endpoint.api_key,
                                    endpoint.api_secret, token)  # fmt: skip
    config_map = workload.config_map(namespace, name, config)
    assert fleet.params is not None
    now = time.monotonic()
    replicas = fleet.replicas
    if replicas is None:
        # First sight. After a restart or a peering takeover the Deployment watch may not
        # have delivered yet: keep what is there (busy workers may be in it), else start
        # at what the policy wants with no calls.
        replicas = await kube.deployment_replicas(namespace, worker_name(name))
    if replicas is None:
        replicas = decide(fleet.workers(now), 0, fleet.params, now).desired
    deployment = workload.deployment(
        namespace, name, spec, image=cfg.agent_image, replicas=replicas,
        config_hash=workload.content_hash(config_map, secret), report_url=cfg.report_url,
    )  # fmt: skip
    for manifest in (
        secret,
        config_map,
        deployment,
        workload.pod_disruption_budget(namespace, name),
    ):
        kopf.adopt(manifest, owner=body)
        await kube.apply(manifest)
    fleet.replicas = replicas


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def voiceagent_sync(*, body: kopf.Body, retry: int, memo: kopf.Memo, **kwargs: Any) -> None:
    await _sync(body, retry, memo, kwargs["siptrunk_trunks"])


@kopf.timer(*RESOURCE, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def voiceagent_resync(*, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Drift repair of the dispatch rule and the workload."""
    await _sync(body, int(kwargs.get("retry", 0)), memo, kwargs["siptrunk_trunks"])


@kopf.daemon(*RESOURCE, cancellation_timeout=5.0)
async def voiceagent_owner(
    *, name: str, meta: kopf.Meta, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    """Runs while this replica serves the VoiceAgent. kopf stops every daemon when peering
    pauses the operator, so a standby never scales from its stale view; it acts again
    (after a fresh settling window) once kopf resumes it and restarts this daemon."""
    fleet = memo.state.fleets.get(meta["namespace"], name)
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
            await remove(dispatch_ops(lk), owner, (body.get("status") or {}).get("dispatchRuleID"))
        except LiveKitError as err:
            raise reasons.kopf_error(reasons.livekit_failure(err, retry)) from None
    state.fleets.drop(owner.namespace, owner.name)
    state.forget(owner.uid)


@kopf.index(GROUP, VERSION, "siptrunks")
def siptrunk_trunks(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], TrunkInfo]:
    """(namespace, SipTrunk) -> the inbound trunk ID, readiness and numbers VoiceAgents need."""
    assert namespace is not None
    return {(namespace, name): trunk_info(dict(status), dict(spec))}


@kopf.index(*RESOURCE)
def voiceagent_trunk_refs(
    *, namespace: str | None, name: str, spec: kopf.Spec, annotations: kopf.Annotations, **_: Any
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(namespace, SipTrunk) -> (VoiceAgent, its trunks-version annotation)."""
    assert namespace is not None
    trunks = (spec.get("telephony") or {}).get("trunks") or []
    seen = annotations.get(TRUNKS_ANNOTATION)
    return {(namespace, trunk): (name, seen) for trunk in trunks}


@kopf.on.event(GROUP, VERSION, "siptrunks")
async def siptrunk_changed(
    *, namespace: str | None, name: str, body: kopf.Body, **kwargs: Any
) -> None:
    """A SipTrunk became ready, changed its ID or numbers: its VoiceAgents re-sync now."""
    if namespace is None:
        return
    info = trunk_info(dict(body.get("status") or {}), dict(body.get("spec") or {}))
    version = kube.short_version(info.inbound_trunk_id, info.ready, *info.numbers)
    if kwargs.get("event", {}).get("type") == "DELETED":
        version = "deleted"
    for va_name, seen in kwargs["voiceagent_trunk_refs"].get((namespace, name), []):
        await kube.nudge(PLURAL, namespace, va_name, TRUNKS_ANNOTATION, seen, name, version)


def _worker_fleet(
    state: OperatorState, namespace: str | None, meta: kopf.Meta
) -> AgentFleet | None:
    """The fleet a worker pod/Deployment belongs to. Created on first sight: after a restart
    the pod watch may list pods before the VoiceAgent's resume handler has run."""
    va = (meta.annotations or {}).get(VOICEAGENT_ANNOTATION) or meta.labels.get(VOICEAGENT_LABEL)
    if namespace is None or va is None:
        return None
    return state.fleets.get(namespace, va)


@kopf.on.event("v1", "pods", labels=WORKER_LABELS)
async def worker_pod_changed(
    *, namespace: str | None, name: str, body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo,
    **kwargs: Any,
) -> None:  # fmt: skip
    """Pods appearing, becoming ready or going away change the fleet: decide again now."""
    fleet = _worker_fleet(memo.state, namespace, meta)
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
    fleet = _worker_fleet(memo.state, namespace, meta)
    if fleet is None:
        return
    if kwargs.get("event", {}).get("type") == "DELETED":
        fleet.replicas = None
    else:
        fleet.replicas = int((body.get("spec") or {}).get("replicas") or 0)


async def on_report(state: OperatorState, report: WorkerReport, received: float) -> ReportResult:
    """A worker's call count changed: decide within this request, not on a poll."""
    fleet = state.fleets.by_key.get((report.namespace, report.voice_agent))
    if fleet is None or not fleet.owned:
        # Serving nothing at all means a paused (or just started) peering replica: the worker
        # retries at once, and the Service may pick the active replica.
        serving = any(f.owned for f in state.fleets.by_key.values())
        return "unknown" if serving else "standby"
    fleet.accept(report, time.monotonic())
    await rescale(fleet, state.decisions, received)
    return "accepted"
