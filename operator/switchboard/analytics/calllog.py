"""The call log: a VoiceAgent's latest call summaries in a ConfigMap it owns, for kubectl.

`kubectl get configmap <voiceagent>-calls -o jsonpath='{.data.calls\\.jsonl}'` reads it: one
summary per line, oldest first. Bounded by the operator's `callLogSize` (summaries are well
under 1 KiB, so the largest allowed log stays far below a ConfigMap's 1 MiB), and written at
most every FLUSH_S per VoiceAgent however fast calls end.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from switchboard_contract.analytics import CallSummary

from switchboard.api import API_VERSION
from switchboard.names import call_log_name, labels

log = logging.getLogger(__name__)

DATA_KEY = "calls.jsonl"
DEFAULT_SIZE, MAX_SIZE = 100, 500
FLUSH_S = 2.0
Manifest = dict[str, Any]


def call_log_configmap(ref: Manifest, lines: Iterable[str]) -> Manifest:
    """Pure: the ConfigMap of the VoiceAgent `ref` (apiVersion/kind/metadata) with `lines`."""
    meta = ref["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": call_log_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": labels("call-log", meta["name"]),
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "VoiceAgent",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {DATA_KEY: "".join(f"{line}\n" for line in lines)},
    }


@dataclass
class CallLog:
    """The latest summaries of one VoiceAgent, as JSON lines, and its pending write."""

    size: int = DEFAULT_SIZE
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=DEFAULT_SIZE))
    pending: asyncio.Task[None] | None = None

    def add(self, summary: CallSummary, size: int) -> None:
        if size != self.size:  # the operator's setting; kept as is when unchanged
            self.size, self.lines = size, deque(self.lines, maxlen=size)
        self.lines.append(summary.model_dump_json())

    def schedule(
        self, ref: Manifest, write: Callable[[Manifest], Awaitable[None]]
    ) -> asyncio.Task[None] | None:
        """Write the log FLUSH_S from now, unless a write is already waiting (it will carry
        this summary too); returns the new task, for its owner to keep a reference to."""
        if self.pending is not None and not self.pending.done():
            return None
        self.pending = asyncio.get_running_loop().create_task(self._flush(ref, write))
        return self.pending

    async def _flush(self, ref: Manifest, write: Callable[[Manifest], Awaitable[None]]) -> None:
        await asyncio.sleep(FLUSH_S)
        manifest = call_log_configmap(ref, list(self.lines))
        try:
            await write(manifest)
        except (ApiException, OSError) as err:  # the next call's write retries
            log.warning("call log %s not written: %s", manifest["metadata"]["name"], err)
