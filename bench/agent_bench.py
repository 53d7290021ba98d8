"""Agent worker benchmark: dispatch->joined, greeting TTFA, end of speech->first audio, RSS.

Runs a real livekit-server (+ redis), the worker as a local process with the offline
providers (pocketsphinx, scripted LLM, flite) and an in-process OTLP receiver for the
per-stage breakdown. `python -m bench.agent_bench [--calls N]`; JSON goes to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from livekit import api
from switchboard_agent.local import FliteTTS

from bench.common import tree_memory, turn_stages
from devstack.livekit import LiveKitStack
from devstack.procs import poll
from tests.support.agent_caller import SimCaller, caller_token
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_otlp import OtlpReceiver
from tests.support.agent_worker import AgentWorker

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"dispatch_to_joined_p95_ms": 300, "platform_overhead_ms": 100, "rss_per_call_mb": 150}
QUESTION = "What are your opening hours?"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(_pct(values, 0.5), 1),
        "p95": round(_pct(values, 0.95), 1),
        "max": round(max(values), 1) if values else float("nan"),
        "mean": round(statistics.fmean(values), 1) if values else float("nan"),
    }


async def _one_call(
    stack: LiveKitStack, lk: api.LiveKitAPI, worker: AgentWorker, tts: FliteTTS
) -> dict[str, Any]:
    room = f"bench-{uuid.uuid4().hex[:8]}"
    await lk.room.create_room(api.CreateRoomRequest(name=room))
    token = caller_token(stack.api_key, stack.api_secret, room, "bench-caller")
    caller = await SimCaller(stack.url, token).connect()
    loop = asyncio.get_running_loop()
    try:
        t0 = loop.time()
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=worker.config["agentName"], room=room)
        )
        await asyncio.wait_for(caller.agent_joined.wait(), 30)
        greeting = await caller.next_utterance()
        during = await asyncio.to_thread(tree_memory, worker.proc.pid)  # type: ignore[union-attr]
        await caller.say(QUESTION, tts)
        answer = await caller.next_utterance()
        return {
            "dispatch_to_joined_ms": (caller.agent_joined_at - t0) * 1000,
            "joined_to_greeting_audio_ms": (greeting.first_frame_at - caller.agent_joined_at)
            * 1000,
            "dispatch_to_greeting_audio_ms": (greeting.first_frame_at - t0) * 1000,
            "eos_to_first_audio_ms": (answer.first_frame_at - caller.speech_ended_at) * 1000,
            "memory_during_call": during,
        }
    finally:
        await caller.close()


DISPATCH_ATTRS = ("accept", "assignment", "launch", "entrypoint", "dispatch")


def _dispatch(otlp: OtlpReceiver) -> dict[str, dict[str, float]]:
    """Worker-side dispatch stages (ms) from livekit's job_entrypoint root span."""
    roots = [s for s in otlp.spans if not s.parent_id]
    out = {}
    for stage in DISPATCH_ATTRS:
        key = f"lk.job.{stage}_latency"
        out[f"worker_{stage}"] = _summary(
            [r.attributes[key] * 1000 for r in roots if key in r.attributes]
        )
    return out


async def run(calls: int, workdir: Path, stt_streaming: bool = False) -> dict[str, Any]:
    stack = LiveKitStack(workdir / "livekit").start()
    otlp = await OtlpReceiver().start()
    doc = offline_config_doc(
        agentName=f"bench-{uuid.uuid4().hex[:6]}",
        telemetry={"otlpEndpoint": otlp.endpoint, "redactPII": True},
    )
    if stt_streaming:
        doc["pipeline"]["stt"]["options"] = {"streaming": "true"}
    worker = AgentWorker(workdir / "agent", doc, stack.url, stack.api_key, stack.api_secret)
    tts = FliteTTS()
    try:
        worker.start()
        async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lk:
            results = []
            idle: dict[str, Any] = {}
            for i in range(calls):
                # a warm process waits for each call: one initial + one replacement per call
                await asyncio.to_thread(
                    poll,
                    lambda n=i: (
                        worker.log().count("process initialized") >= n + 1
                        # the server only dispatches once it saw the worker available again
                        and worker.log().count("marking as available") >= n
                        and "active_jobs" not in worker.worker_info()
                    ),
                    60,
                    "a warm idle worker",
                )
                if i == 0:
                    await asyncio.sleep(1.0)
                    idle = await asyncio.to_thread(tree_memory, worker.proc.pid)  # type: ignore[union-attr]
                results.append(await _one_call(stack, lk, worker, tts))
                print(
                    f"  call {i + 1}/{calls}: "
                    + ", ".join(f"{k}={v:.0f}" for k, v in results[-1].items() if k.endswith("_ms"))
                )
            await asyncio.sleep(2.5)  # the last job's trace export
    finally:
        worker.stop()
        await otlp.stop()
        stack.stop()
    report = _report(results, idle, turn_stages(otlp.spans))
    report["dispatch_stages_ms"] = _dispatch(otlp)
    report["stt_streaming"] = stt_streaming
    return report


def _report(
    results: list[dict[str, Any]], idle: dict[str, Any], turns: list[dict[str, float]]
) -> dict[str, Any]:
    keys = [k for k in results[0] if k.endswith("_ms")] if results else []
    figures = {k: _summary([r[k] for r in results]) for k in keys}
    stages = {
        k: _summary([t[k] for t in turns if k in t])
        for k in ("stt_delay", "eou_delay", "llm_ttft", "tts_ttfb", "e2e_latency")
    }
    # everything between the caller's end of speech and the first audio it hears that is
    # not STT/turn decision, LLM or TTS time: transport, buffering, scheduling
    overhead = [
        r["eos_to_first_audio_ms"] - t["eou_delay"] - t.get("llm_ttft", 0) - t.get("tts_ttfb", 0)
        for r, t in zip(results, turns, strict=False)
        if "eou_delay" in t
    ]
    # inside the agent, between the turn decision and the first audio frame out
    internal = [
        t["e2e_latency"] - t["eou_delay"] - t.get("llm_ttft", 0) - t.get("tts_ttfb", 0)
        for t in turns
        if "e2e_latency" in t and "eou_delay" in t
    ]
    # caller's end of speech -> its first answer audio, minus the agent's own e2e: audio
    # transport both ways (opus, SFU, jitter buffers) and VAD end-of-speech detection lag
    transport = [
        r["eos_to_first_audio_ms"] - t["e2e_latency"]
        for r, t in zip(results, turns, strict=False)
        if "e2e_latency" in t
    ]
    per_call = [max(p["uss"] for p in r["memory_during_call"]["procs"]) for r in results]
    rss_job = [max(p["rss"] for p in r["memory_during_call"]["procs"]) for r in results]
    return {
        "benchmark": "agent",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "providers": "pocketsphinx STT, scripted LLM, flite TTS (offline)",
        "calls": len(results),
        "latency_ms": figures,
        "stages_ms": stages,
        "platform_overhead_ms": _summary(overhead),
        "agent_internal_overhead_ms": _summary(internal),
        "transport_and_vad_lag_ms": _summary(transport),
        "memory_mb": {
            "idle_tree_rss": idle.get("tree_rss_mb"),
            "idle_tree_uss": idle.get("tree_uss_mb"),
            "idle_procs": idle.get("procs"),
            "per_call_job_process_rss": _summary(rss_job),
            "per_call_job_process_uss": _summary(per_call),
            "during_call_tree_rss": _summary(
                [r["memory_during_call"]["tree_rss_mb"] for r in results]
            ),
        },
        "targets": TARGETS,
    }


def _print(report: dict[str, Any]) -> None:
    print("\nagent benchmark (offline providers, loopback livekit-server)")
    for k, v in report["latency_ms"].items():
        print(f"  {k:34s} p50 {v['p50']:7.1f}  p95 {v['p95']:7.1f}  max {v['max']:7.1f} ms")
    print("  dispatch, worker side (from traces):")
    for k, v in report.get("dispatch_stages_ms", {}).items():
        print(f"    {k:32s} p50 {v['p50']:7.1f}  p95 {v['p95']:7.1f} ms")
    print("  per stage (agent side, from traces):")
    for k, v in report["stages_ms"].items():
        print(f"    {k:32s} p50 {v['p50']:7.1f}  p95 {v['p95']:7.1f} ms")
    o = report["platform_overhead_ms"]
    print(f"  {'platform overhead':34s} p50 {o['p50']:7.1f}  p95 {o['p95']:7.1f} ms")
    for key in ("agent_internal_overhead_ms", "transport_and_vad_lag_ms"):
        o = report[key]
        print(f"    {key:32s} p50 {o['p50']:7.1f}  p95 {o['p95']:7.1f} ms")
    m = report["memory_mb"]
    print(f"  worker tree RSS idle {m['idle_tree_rss']} MB (USS {m['idle_tree_uss']} MB)")
    j, u = m["per_call_job_process_rss"], m["per_call_job_process_uss"]
    print(f"  job process per call: RSS p50 {j['p50']} MB, USS p50 {u['p50']} MB")
    print(f"  targets: {report['targets']}")


def main(argv: list[str] | None = None) -> int:
    """Run the agent benchmark, print the figures and write bench/results/agent-*.json."""
    parser = argparse.ArgumentParser(prog="agent_bench")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--stt-streaming", action="store_true", help="pocketsphinx streaming")
    args, _ = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        report = asyncio.run(run(args.calls, Path(tmp), args.stt_streaming))
    _print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"agent-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  wrote {out}")
    return 0  # the runner (python -m bench) counts anything else as a failure


if __name__ == "__main__":
    main()
