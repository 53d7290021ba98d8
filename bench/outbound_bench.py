"""`python -m bench outbound`: OutboundCall latencies and campaign throughput against the cap.

Real and on loopback: the control plane, the operator, livekit-server + livekit-sip, one
agent worker (offline providers) and our callee UA.
- calls: sequential OutboundCalls the callee answers at once (BYE after 4 s): create ->
  INVITE at the callee (operator tick, intent, dispatch, job, claim), answer -> first
  greeting audio, answer -> status InProgress, callee BYE -> status Completed;
- campaign: N targets that ring 2 s then answer busy, maxConcurrentCalls = the cap: wall
  time, calls/s against cap / ring time, and mean concurrent calls at the callee / cap.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.common import summary, write
from bench.stack import BenchStack
from devstack.sip import SipBridge
from devstack.sipua.audio import next_utterance
from devstack.sipua.ua import SipUA
from tests.support.agent_worker import AgentWorker
from tests.support.outbound import (
    ANSWER,
    RING_BUSY,
    Callee,
    campaign,
    outbound_agent,
    outbound_call,
    outbound_trunk,
)

GROUP, VERSION = "switchboard.dev", "v1alpha1"
PLURALS = {"SipTrunk": "siptrunks", "VoiceAgent": "voiceagents", "OutboundCall": "outboundcalls",
           "CallCampaign": "callcampaigns"}  # fmt: skip


class Bench:
    def __init__(self, workdir: Path, cap: int, spare: int) -> None:
        self.workdir, self.cap, self.spare = workdir, cap, spare
        self.mode = ANSWER

    async def __aenter__(self) -> Bench:
        self.stack = await asyncio.to_thread(BenchStack(self.workdir).start)
        self.bridge = SipBridge(self.workdir / "sip", self.stack.livekit).start()
        self.callee = Callee(await SipUA(user="callee").start(), lambda _: self.mode)
        self.callee.start()
        self.api = client.CustomObjectsApi(self.stack.api)
        self.core = client.CoreV1Api(self.stack.api)
        self.create(outbound_trunk(self.callee.ua.port))
        # spare job processes: a finished job's process is replaced (prewarm ~1.5 s), and a
        # dispatch that finds every slot busy is dropped by livekit-server and redone later
        self.create(outbound_agent(self.cap + self.spare))
        self.worker = await asyncio.to_thread(self._worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.callee.close()
        self.worker.stop()
        self.bridge.stop()
        self.stack.stop()

    def create(self, doc: dict[str, Any]) -> None:
        self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.stack.namespace, PLURALS[doc["kind"]], doc
        )

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.api.get_namespaced_custom_object(
            GROUP, VERSION, self.stack.namespace, PLURALS[kind], name
        )
        return obj

    def _worker(self) -> AgentWorker:
        ns = self.stack.namespace
        deadline = time.monotonic() + 120
        while True:
            try:
                cm = self.core.read_namespaced_config_map("desk-agent-config", ns)
                secret = self.core.read_namespaced_secret("desk-worker", ns)
                break
            except client.ApiException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        creds = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        worker = AgentWorker(
            self.workdir / "worker",
            json.loads(cm.data["agent-config.json"]),
            creds.pop("LIVEKIT_URL"),
            creds.pop("LIVEKIT_API_KEY"),
            creds.pop("LIVEKIT_API_SECRET"),
            extra_env={
                **creds,
                "SWITCHBOARD_REPORT_URL": f"http://127.0.0.1:{self.stack.report_port}/v1/reports",
                "SWITCHBOARD_POD_NAME": "bench-worker",
            },
        )
        return worker.start()

    async def status_when(self, kind: str, name: str, check: Any, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while True:
            status = (await asyncio.to_thread(self.get, kind, name)).get("status") or {}
            if check(status):
                return asyncio.get_running_loop().time()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} {name}: {status}")
            await asyncio.sleep(0.05)


async def one_call(b: Bench, i: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    number = f"+1555999{i:04d}"
    user = number.lstrip("+")
    b.callee.hold_s = 4.0
    created = loop.time()
    b.create(outbound_call(f"lat-{i}", number))
    while not any(c.invite and user in c.invite.uri for c in b.callee.ua.calls.values()):
        await asyncio.sleep(0.01)
    call = next(c for c in b.callee.ua.calls.values() if c.invite and user in c.invite.uri)
    while user not in b.callee.answered:
        await asyncio.sleep(0.01)
    greeting = await next_utterance(call.rtp, call.answered_at, 30, call.ended)
    in_progress = await b.status_when(
        "OutboundCall", f"lat-{i}", lambda s: s.get("phase") in ("InProgress", "Completed")
    )
    await asyncio.wait_for(call.ended.wait(), 30)
    completed = await b.status_when(
        "OutboundCall", f"lat-{i}", lambda s: s.get("phase") == "Completed"
    )
    return {
        "create_to_invite_ms": (call.invite_at - created) * 1000,
        "invite_to_answer_ms": (call.answered_at - call.invite_at) * 1000,
        "answer_to_greeting_ms": (greeting.start - call.answered_at) * 1000,
        "answer_to_status_in_progress_ms": (in_progress - call.answered_at) * 1000,
        "end_to_status_completed_ms": (completed - call.ended_at) * 1000,
    }


async def run_campaign(b: Bench, targets: int, ring_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    b.mode, b.callee.ring_s = RING_BUSY, ring_s
    before = sum(b.callee.invites.values())
    numbers = [f"+1555888{i:04d}" for i in range(targets)]
    start = loop.time()
    b.create(campaign("bench", numbers, maxConcurrentCalls=b.cap, callsPerSecond=float(b.cap)))
    samples: list[int] = []
    first: float | None = None
    while sum(b.callee.invites.values()) - before < targets or b.callee.concurrent:
        if b.callee.concurrent and first is None:
            first = loop.time()
        if first is not None:
            samples.append(b.callee.concurrent)
        await asyncio.sleep(0.05)
        if loop.time() - start > 600:
            raise TimeoutError("campaign did not finish")
    last = loop.time()
    done = await b.status_when(
        "CallCampaign", "bench", lambda s: s.get("remaining") == 0 and s.get("total") == targets
    )
    wall = last - (first or start)
    mean = sum(samples) / max(1, len(samples))
    return {
        "targets": targets,
        "cap": b.cap,
        "ring_s": ring_s,
        "wall_s": wall,
        "create_to_all_recorded_s": done - start,
        "calls_per_s": targets / wall,
        "ideal_calls_per_s": b.cap / ring_s,
        "mean_concurrent": mean,
        "max_concurrent": b.callee.max_concurrent,
        "cap_utilisation": mean / b.cap,
        "dialled_once": all(v == 1 for v in b.callee.invites.values()),
    }


async def run(workdir: Path, calls: int, targets: int, cap: int, spare: int) -> dict[str, Any]:
    async with Bench(workdir, cap, spare) as b:
        rows = [await one_call(b, i) for i in range(calls)]
        camp = await run_campaign(b, targets, 2.0)
    keys = rows[0].keys() if rows else []
    return {"calls": rows, "summary": {k: summary([r[k] for r in rows]) for k in keys},
            "campaign": {**camp, "worker_slots": cap + spare}}  # fmt: skip


def report(r: dict[str, Any]) -> None:
    for key, s in r["summary"].items():
        print(f"  {key}: p50 {s['p50']:.0f} ms, p95 {s['p95']:.0f} ms, max {s['max']:.0f} ms")
    c = r["campaign"]
    print(
        f"  campaign: {c['targets']} targets, cap {c['cap']}: {c['wall_s']:.1f} s, "
        f"{c['calls_per_s']:.2f} calls/s (ideal {c['ideal_calls_per_s']:.2f}), mean concurrent "
        f"{c['mean_concurrent']:.2f} = {c['cap_utilisation']:.0%} of the cap, max "
        f"{c['max_concurrent']}, each dialled once: {c['dialled_once']}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench outbound", description=__doc__)
    parser.add_argument("--calls", type=int, default=5, help="sequential answered calls")
    parser.add_argument("--targets", type=int, default=30, help="campaign targets")
    parser.add_argument("--cap", type=int, default=5, help="maxConcurrentCalls")
    parser.add_argument("--spare", type=int, default=3, help="worker slots beyond the cap")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-outbound-") as tmp:
        result = asyncio.run(run(Path(tmp), args.calls, args.targets, args.cap, args.spare))
    report(result)
    write("outbound", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
