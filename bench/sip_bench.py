"""`python -m bench sip`: phone calls through livekit-sip: warm, cold, and 10 at once.

Everything is real and on loopback: livekit-server + redis, livekit-sip, agent workers with
the offline providers, our SIP UA (PCMU RTP), and an OTLP receiver for each call's stages.
- warm: sequential calls to an idle warm worker (INVITE->200 OK, ->greeting, voice-to-voice
  with the trace's STT/LLM/TTS breakdown);
- cold: no worker registered; one starts when the INVITE is sent, and the operator's own
  re-dispatch sweep hands it the call that livekit-server dropped (the best a pool scaling
  from zero can do, before pod scheduling and image pulls);
- concurrent: N calls at once to N one-call workers; answered/greeted, CPU and RSS per call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from livekit import api
from switchboard.livekit.client import LiveKitClient, LiveKitEndpoint
from switchboard.voiceagent import redispatch

from bench.common import cpu_between, summary, tree_cpu_s, tree_memory, turn_stages, write
from devstack.livekit import LiveKitStack
from devstack.procs import poll
from devstack.sip import SipBridge
from devstack.sipua.audio import flite_prompt
from devstack.sipua.dialog import Conversation, converse
from devstack.sipua.ua import SipUA
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_otlp import OtlpReceiver
from tests.support.agent_worker import AgentWorker

NUMBER = "+15550100100"
CALLER = "+15557770100"
QUESTION = "Are you open on Monday?"
SCRIPT = {
    "intents": [
        {
            "name": "hours",
            "keywords": ["monday", "open", "hours"],
            "reply": "We are open from nine to five.",
        }
    ],
    "fallback": "Sorry, I did not catch that.",
}
TARGETS = {
    "warm_invite_to_ok_p95_ms": 500,
    "concurrent_answered_and_greeted": 10,
    "platform_overhead_p50_ms": 150,
}
TIMINGS = ("invite_to_ok", "invite_to_greeting", "speech_end_to_answer")


async def provision(stack: LiveKitStack, agent_name: str) -> None:
    """What the operator creates for a SipTrunk + VoiceAgent (inbound trunk, dispatch rule)."""
    async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lk:
        trunk = await lk.sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(
                    name="bench", numbers=[NUMBER], allowed_addresses=["127.0.0.1/32"]
                )
            )
        )
        await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    rule=api.SIPDispatchRule(
                        dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
                    ),
                    trunk_ids=[trunk.sip_trunk_id],
                    hide_phone_number=True,
                    room_config=api.RoomConfiguration(
                        agents=[api.RoomAgentDispatch(agent_name=agent_name)]
                    ),
                )
            )
        )


def _row(conv: Conversation) -> dict[str, float | None]:
    values = {k: getattr(conv, k) for k in TIMINGS}
    return {k: None if v is None else v * 1000 for k, v in values.items()}


def _print_row(label: str, row: dict[str, Any]) -> None:
    print(
        f"  {label}: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in row.items() if isinstance(v, float))
    )


class Bench:
    """One livekit-server + livekit-sip; workers come and go per phase."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = f"bench-{uuid.uuid4().hex[:6]}"
        self.question = flite_prompt(QUESTION)
        self.workers: list[AgentWorker] = []
        self.started = 0  # workers ever started: each gets a fresh directory and log

    async def __aenter__(self) -> Bench:
        self.stack = LiveKitStack(self.workdir / "livekit").start()
        self.bridge = SipBridge(self.workdir / "sip", self.stack).start()
        self.otlp = await OtlpReceiver().start()
        self.ua = await SipUA(user="bench").start()
        await provision(self.stack, self.name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ua.close()
        self.stop_workers()
        await self.otlp.stop()
        self.bridge.stop()
        self.stack.stop()

    def worker(self) -> AgentWorker:
        doc = offline_config_doc(
            agentName=self.name,
            pipeline={
                "stt": {"provider": "pocketsphinx"},
                "llm": {"provider": "scripted", "script": SCRIPT},
                "tts": {"provider": "flite", "voice": "slt"},
            },
            telemetry={"otlpEndpoint": self.otlp.endpoint, "redactPII": True, "samplingRatio": 1.0},
        )
        w = AgentWorker(
            self.workdir / f"agent-{self.started}",
            doc,
            self.stack.url,
            self.stack.api_key,
            self.stack.api_secret,
        )
        self.started += 1
        self.workers.append(w)
        return w

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []

    async def call(self, caller: str = CALLER, partial: bool = False) -> Conversation:
        return await converse(
            self.ua, self.bridge.uri(NUMBER), self.question, caller=caller, partial=partial
        )

    def roots(self) -> list[Any]:
        """The calls' root spans exported so far (each at its call's end)."""
        return [s for s in self.otlp.spans if not s.parent_id]

    async def next_root(self, before: int) -> Any:
        """The root span of the call that ended after `before` roots had arrived."""
        await asyncio.to_thread(poll, lambda: len(self.roots()) > before, 30, "a root span")
        return self.roots()[before]


def _ready_for_call(worker: AgentWorker, served: int) -> bool:
    log = worker.log()
    return (
        log.count("process initialized") >= served + 1
        # livekit-server drops a dispatch while it still sees the worker full
        and log.count("marking as available") >= served
        and "active_jobs" not in worker.worker_info()
    )


async def warm(b: Bench, calls: int) -> dict[str, Any]:
    """Sequential calls, each to an idle worker with a prewarmed job process."""
    worker = b.worker().start()
    rows = []
    for i in range(calls):
        await asyncio.to_thread(poll, lambda n=i: _ready_for_call(worker, n), 120, "a warm worker")
        before = len(b.roots())
        row: dict[str, Any] = _row(await b.call())
        [turn] = turn_stages([await b.next_root(before)]) or [{}]
        row["turn"] = turn
        if row["speech_end_to_answer"] is not None and "eou_delay" in turn:
            stages = turn["eou_delay"] + turn.get("llm_ttft", 0) + turn.get("tts_ttfb", 0)
            row["platform_overhead"] = row["speech_end_to_answer"] - stages
            row["transport_and_vad"] = row["speech_end_to_answer"] - turn.get("e2e_latency", 0)
        rows.append(row)
        _print_row(f"warm call {i + 1}", row)
    b.stop_workers()
    out = _summaries(rows, (*TIMINGS, "platform_overhead", "transport_and_vad"))
    turns = [r["turn"] for r in rows]
    out["stages_ms"] = {
        k: summary([t[k] for t in turns if k in t])
        for k in ("stt_delay", "eou_delay", "llm_ttft", "tts_ttfb", "e2e_latency")
    }
    return {**out, "rows": rows}


async def _start_and_redispatch(b: Bench, worker: AgentWorker) -> dict[str, float]:
    """Start `worker`, then sweep like the operator until the dropped call is dispatched."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.to_thread(worker.start)
    registered = loop.time()
    ep = LiveKitEndpoint(b.stack.url, b.stack.api_key, b.stack.api_secret)
    async with LiveKitClient(ep) as lk:
        # a dispatch younger than redispatch.GRACE_S may still be in flight: not yet
        while not await redispatch.sweep(lk, b.name, time.time()):
            await asyncio.sleep(0.25)
    return {"worker_start": (registered - t0) * 1000, "redispatch": (loop.time() - t0) * 1000}


async def cold(b: Bench, calls: int) -> dict[str, Any]:
    """No worker registered when the INVITE goes out; one is started at that moment."""
    rows = []
    for i in range(calls):
        worker = b.worker()
        started = asyncio.create_task(_start_and_redispatch(b, worker))
        row: dict[str, Any] = _row(await b.call())
        row.update(await started)
        rows.append(row)
        _print_row(f"cold call {i + 1}", row)
        b.stop_workers()
    return {**_summaries(rows, (*TIMINGS, "worker_start", "redispatch")), "rows": rows}


async def concurrent(b: Bench, calls: int) -> dict[str, Any]:
    """`calls` calls at once, one per worker (the default one call per pod)."""
    workers = [b.worker() for _ in range(calls)]
    await asyncio.gather(*(asyncio.to_thread(w.start) for w in workers))
    await asyncio.sleep(1.0)  # the replacement processes settle
    assert b.bridge.proc is not None
    sip_pid = b.bridge.proc.pid
    pids = [w.proc.pid for w in workers if w.proc is not None]
    idle_sip = tree_memory(sip_pid)["tree_rss_mb"]
    cpu0 = {pid: tree_cpu_s(pid) for pid in [sip_pid, *pids]}
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    convs = await asyncio.gather(
        *(b.call(caller=f"+1555777{i:04d}", partial=True) for i in range(calls)),
        return_exceptions=True,
    )
    wall = loop.time() - t0
    ok = [c for c in convs if isinstance(c, Conversation)]
    greeted = [c for c in ok if c.greeting is not None]
    answered = [c for c in ok if c.answer is not None]
    cpu = {pid: cpu_between(before, tree_cpu_s(pid)) for pid, before in cpu0.items()}
    mem = [tree_memory(pid) for pid in pids]
    rows = [_row(c) for c in ok]
    b.stop_workers()
    worker_cpu = sum(cpu[pid] for pid in pids)
    return {
        "calls": calls,
        "answered": len(ok),
        "greeted": len(greeted),
        "got_answer": len(answered),
        "errors": [
            c.error if isinstance(c, Conversation) else repr(c)
            for c in convs
            if not isinstance(c, Conversation) or c.error
        ],
        "wall_s": wall,
        **_summaries(rows, TIMINGS),
        "per_call": {
            "worker_cpu_s": worker_cpu / calls,
            "livekit_sip_cpu_s": cpu[sip_pid] / calls,
            "worker_tree_rss_mb": sum(m["tree_rss_mb"] for m in mem) / calls,
            "worker_tree_uss_mb": sum(m["tree_uss_mb"] for m in mem) / calls,
            "livekit_sip_rss_mb": (tree_memory(sip_pid)["tree_rss_mb"] - idle_sip) / calls,
        },
        "livekit_sip_idle_rss_mb": idle_sip,
        "rows": rows,
    }


def _summaries(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        values = [float(v) for r in rows if (v := r.get(key)) is not None]
        out[f"{key}_ms"] = summary(values) if values else None
    return out


async def run(calls: int, cold_calls: int, parallel: int, workdir: Path) -> dict[str, Any]:
    async with Bench(workdir) as b:
        print(f"warm: {calls} sequential calls")
        w = await warm(b, calls)
        print(f"cold: {cold_calls} calls, the worker starts at the INVITE")
        c = await cold(b, cold_calls)
        print(f"concurrent: {parallel} calls at once to {parallel} workers")
        p = await concurrent(b, parallel)
    return {
        "warm": w,
        "cold": c,
        "concurrent": p,
        "targets": TARGETS,
        "providers": "pocketsphinx STT, scripted LLM, flite TTS (offline)",
    }


def _line(label: str, s: dict[str, float] | None) -> None:
    if s:
        print(f"  {label:34} p50 {s['p50']:7.0f}  p95 {s['p95']:7.0f}  max {s['max']:7.0f} ms")


def report(r: dict[str, Any]) -> None:
    w, c, p = r["warm"], r["cold"], r["concurrent"]
    print(f"\nSIP benchmark (medians of {w['invite_to_ok_ms']['n']} warm calls)")
    for phase, data in (("warm", w), ("cold", c), ("concurrent", p)):
        for key in TIMINGS:
            _line(f"{phase} {key.replace('_', ' ')}", data.get(f"{key}_ms"))
    _line("cold worker start (INVITE->ready)", c.get("worker_start_ms"))
    _line("cold INVITE->re-dispatched", c.get("redispatch_ms"))
    _line("warm platform overhead", w.get("platform_overhead_ms"))
    _line("warm transport + VAD lag", w.get("transport_and_vad_ms"))
    for stage, s in w["stages_ms"].items():
        _line(f"  stage {stage}", s)
    print(
        f"  concurrent: {p['answered']}/{p['calls']} answered, {p['greeted']} greeted, "
        f"{p['got_answer']} got an answer, {p['wall_s']:.1f} s"
    )
    print("  per concurrent call: " + ", ".join(f"{k} {v:.2f}" for k, v in p["per_call"].items()))
    print("  targets: " + ", ".join(f"{k} {v}" for k, v in r["targets"].items()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sip", description=__doc__)
    parser.add_argument("--calls", type=int, default=8, help="warm sequential calls")
    parser.add_argument("--cold-calls", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        result = asyncio.run(run(args.calls, args.cold_calls, args.concurrent, Path(tmp)))
    report(result)
    write("sip", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
