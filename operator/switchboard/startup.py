"""Kopf startup/cleanup: storage conventions, API clients, and the shared operator state."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from switchboard import kube
from switchboard.api import GROUP
from switchboard.config import OperatorConfig
from switchboard.names import FINALIZER
from switchboard.state import OperatorState


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Our status schema is structural, so kopf's default status.kopf would be pruned:
    # keep kopf's bookkeeping in annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    kube.load_config()
    memo.state = OperatorState(OperatorConfig.from_env())


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    state: OperatorState | None = memo.get("state")
    if state is not None:
        await state.aclose()


@kopf.on.probe(id="livekitCalls")
def livekit_calls(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """LiveKit API calls by method since start (on the liveness endpoint, for benchmarks/ops)."""
    state: OperatorState | None = memo.get("state")
    totals: dict[str, int] = {}
    for client in state.clients.values() if state else []:
        for op, n in client.calls.items():
            totals[op] = totals.get(op, 0) + n
    return totals
