"""Kopf startup/cleanup: storage conventions, API clients, and the shared operator state."""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

import kopf

from switchboard import kube, metrics, redact, web
from switchboard.analytics import route as summaries
from switchboard.api import GROUP
from switchboard.config import OperatorConfig
from switchboard.metrics import DecisionClock, StateCollector
from switchboard.names import COMPONENT_LABEL, FINALIZER, WATCH_LABEL, WORKER_COMPONENT
from switchboard.outbound import reports as call_reports
from switchboard.outbound.caps import Slots
from switchboard.state import OperatorState
from switchboard.voiceagent import handlers as voiceagent_handlers
from switchboard.voiceagent import reports
from switchboard.voiceagent.fleet import Fleets


def build_state(config: OperatorConfig) -> tuple[OperatorState, Fleets]:
    """The memo's contents: kind-neutral state, the VoiceAgent fleets, metrics over both."""
    state = OperatorState(config)
    decisions = DecisionClock(observe=state.metrics.decision_seconds.observe)
    fleets = Fleets(locks=state.locks, decisions=decisions)
    state.metrics.watch_state(
        StateCollector(clients=lambda: list(state.clients.values()), statuses=fleets.statuses)
    )
    return state, fleets


async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, config: OperatorConfig, **_: Any
) -> None:
    """Registered by `handlers.register`, which hands it the config read once at start."""
    redact.install()
    settings.persistence.finalizer = FINALIZER
    # Our status schema is structural, so kopf's default status.kopf would be pruned:
    # keep kopf's bookkeeping in annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    if settings.peering.priority == 0:
        # Replicas meeting in one peering (chart: --peering) must not tie: kopf pauses every
        # operator of the same priority. A random one makes exactly one active; the others
        # stand by and take over when it stops renewing. An explicit --priority N is kept.
        settings.peering.priority = secrets.randbelow(2**31 - 1) + 1
    settings.watching.server_timeout = 300
    # A deletion waits for the object's timers (the resyncs) to stop. One caught mid-pass
    # is polled again only after cancellation_polling, 60 s by default: a VoiceAgent took
    # over a minute to go (CI saw it). Poll every 2 s, and give a timer 0.1 s to exit at once.
    settings.background.cancellation_polling = 2
    settings.background.instant_exit_timeout = 0.1
    # Server-side selectors: the API server streams only what a handler needs, never every
    # Secret or Pod in the cluster (kopf's handler filters alone are client-side).
    settings.watching.label_selectors["v1", "secrets"] = f"{WATCH_LABEL}=true"
    worker = f"{COMPONENT_LABEL}={WORKER_COMPONENT}"
    settings.watching.label_selectors["v1", "pods"] = worker
    settings.watching.label_selectors["apps", "v1", "deployments"] = worker
    if not settings.peering.clusterwide:
        # --namespace: serve exactly the given namespaces, with namespaced RBAC only (the
        # chart's watchScope=namespace). Without this kopf lists and watches namespaces and
        # CRDs cluster-wide, retrying each 403 for about a minute before it falls back.
        settings.scanning.disabled = True
    kube.load_config()
    state, fleets = build_state(config)
    memo.state, memo.fleets, memo.runners = state, fleets, []
    memo.slots = slots = Slots()
    memo.campaigns = {}  # campaign.handlers.CampaignMemory by campaign UID
    if config.metrics_host is not None and config.metrics_port is not None:
        app = metrics.make_app(state.metrics)
        memo.runners.append(
            await web.serve(app, config.metrics_host, config.metrics_port, "metrics")
        )
    try:
        key = config.report_hmac_key()
    except ValueError as err:
        logging.getLogger(__name__).warning("worker reports disabled: %s", err)
        return
    app = reports.make_app(
        key,
        functools.partial(voiceagent_handlers.report_target, fleets),
        functools.partial(voiceagent_handlers.on_report, fleets),
        on_result=lambda result: state.metrics.reports.labels(result).inc(),
    )
    call_reports.add_call_route(
        app,
        key,
        functools.partial(voiceagent_handlers.report_target, fleets),
        functools.partial(call_reports.on_call, slots),
    )
    summaries.add_summary_route(
        app,
        key,
        functools.partial(voiceagent_handlers.report_target, fleets),
        functools.partial(summaries.on_summary, fleets, state.metrics.calls, config.call_log_size),
    )
    memo.runners.append(
        await web.serve(
            app, config.report_host, config.report_port, "worker reports", reports.LINGER_S
        )
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    fleets: Fleets | None = memo.get("fleets")
    if fleets is not None:
        fleets.cancel_tasks()
    state: OperatorState | None = memo.get("state")
    if state is not None:
        await state.aclose()
    for runner in memo.get("runners") or []:
        await runner.cleanup()


@kopf.on.probe(id="livekitCalls")
def livekit_calls(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """LiveKit API calls by method since start (on the liveness endpoint, for benchmarks/ops)."""
    state: OperatorState | None = memo.get("state")
    totals: dict[str, int] = {}
    for client in state.clients.values() if state else []:
        for op, n in client.calls.items():
            totals[op] = totals.get(op, 0) + n
    return totals


@kopf.on.probe(id="decisionLatencyMs")
def decision_latency(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Worker report received -> scaling decision applied, over the recent window."""
    fleets: Fleets | None = memo.get("fleets")
    samples = sorted(fleets.decisions.samples) if fleets else []
    if not samples:
        return {"n": 0}

    def pick(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000

    return {"n": len(samples), "p50": pick(0.5), "p95": pick(0.95), "max": samples[-1] * 1000}
