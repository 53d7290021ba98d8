"""Outbound-call test helpers: manifests, a callee UA that answers by number, INVITE counts."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.sipua.ua import Call, SipUA
from tests.support.kube import GROUP, VERSION
from tests.support.sip_stack import voice_agent
from tests.support.voiceagent_stack import NUMBER

# Callee behaviour by the last digits of the dialled number.
ANSWER, BUSY, DECLINE, NO_ANSWER = "answer", "busy", "decline", "ring"
RING_BUSY = "ring-busy"  # rings `ring_s`, then 486: a call that holds a slot, without a session


def outbound_call(
    name: str, to: str, *, agent: str = "desk", trunk: str = "carrier", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OutboundCall",
        "metadata": {"name": name},
        "spec": {"voiceAgentRef": {"name": agent}, "to": to, "trunkRef": {"name": trunk}, **spec},
    }


def outbound_trunk(port: int, name: str = "carrier") -> dict[str, Any]:
    """A trunk that dials the callee UA on `port` (and answers NUMBER inbound)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {
            "inbound": {"numbers": [NUMBER], "allowedAddresses": ["127.0.0.1/32"]},
            "outbound": {"address": f"127.0.0.1:{port}", "transport": "udp", "numbers": [NUMBER]},
        },
    }


def outbound_agent(calls_per_worker: int = 4, **kwargs: Any) -> dict[str, Any]:
    doc = voice_agent(**kwargs)
    doc["spec"]["scaling"]["callsPerWorker"] = calls_per_worker
    return doc


def campaign(name: str, numbers: list[str], **spec: Any) -> dict[str, Any]:
    body = {"voiceAgentRef": {"name": "desk"}, "trunkRef": {"name": "carrier"}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CallCampaign",
        "metadata": {"name": name},
        "spec": {**body, "targets": [{"to": n} for n in numbers], **spec},
    }


def dialled_user(call: Call) -> str:
    """The user part of the INVITE's request URI: the number the agent dialled (no '+')."""
    uri = call.invite.uri if call.invite else ""
    return uri.split(":", 1)[-1].split("@", 1)[0].lstrip("+")


@dataclass
class Callee:
    """The called phones: one UA; `behave(number)` says what each number does."""

    ua: SipUA
    behave: Callable[[str], str]
    hold_s: float = 2.0  # how long an answered call lasts before the callee hangs up
    ring_s: float = 1.5
    answer_after_s: float = 0.0  # rings this long before answering
    invites: Counter[str] = field(default_factory=Counter)
    concurrent: int = 0
    max_concurrent: int = 0
    answered: dict[str, Call] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _calls: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> Callee:
        self._task = asyncio.get_running_loop().create_task(self._serve())
        return self

    async def _serve(self) -> None:
        while True:
            call = await self.ua.incoming.get()
            task = asyncio.get_running_loop().create_task(self._handle(call))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _handle(self, call: Call) -> None:
        user = dialled_user(call)
        self.invites[user] += 1
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            action = self.behave(user)
            if action == BUSY:
                call.reject(486, "Busy Here")
            elif action == RING_BUSY:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.ended.wait(), self.ring_s)
                if not call.ended.is_set():
                    call.reject(486, "Busy Here")
            elif action == DECLINE:
                call.reject(603, "Decline")
            elif action == ANSWER:
                await asyncio.sleep(self.answer_after_s)
                await call.answer()
                self.answered[user] = call
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.ended.wait(), self.hold_s)
                if not call.ended.is_set():
                    await call.bye()
            else:  # ring until the caller gives up (CANCEL -> 487)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.ended.wait(), 120)
        finally:
            self.concurrent -= 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in list(self._calls):
            task.cancel()
        await self.ua.close()
