"""`python -m bench sip`: phone calls through livekit-sip to a warm worker; SIP timings."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from livekit import api

from bench.common import summary, write
from devstack.livekit import LiveKitStack
from devstack.procs import poll, rss_kib
from devstack.sip import SipBridge
from devstack.sipua.audio import flite_prompt
from devstack.sipua.dialog import converse
from devstack.sipua.ua import SipUA
from tests.support.agent_configs import offline_config_doc
from tests.support.agent_worker import AgentWorker

NUMBER = "+15550100100"
CALLER = "+15557770100"
QUESTION = "Are you open on Monday?"
SCRIPT = {"intents": [{"name": "hours", "keywords": ["monday", "open", "hours"],
                       "reply": "We are open from nine to five."}],
          "fallback": "Sorry, I did not catch that."}  # fmt: skip


async def provision(stack: LiveKitStack, agent_name: str) -> None:
    """What the operator creates for a SipTrunk + VoiceAgent (inbound trunk, dispatch rule)."""
    async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lk:
        trunk = await lk.sip.create_inbound_trunk(api.CreateSIPInboundTrunkRequest(
            trunk=api.SIPInboundTrunkInfo(name="bench", numbers=[NUMBER],
                                          allowed_addresses=["127.0.0.1/32"])))  # fmt: skip
        await lk.sip.create_dispatch_rule(api.CreateSIPDispatchRuleRequest(
            dispatch_rule=api.SIPDispatchRuleInfo(
                rule=api.SIPDispatchRule(dispatch_rule_individual=api.SIPDispatchRuleIndividual(
                    room_prefix="call-")),
                trunk_ids=[trunk.sip_trunk_id], hide_phone_number=True,
                room_config=api.RoomConfiguration(agents=[api.RoomAgentDispatch(
                    agent_name=agent_name)]))))  # fmt: skip


async def run(calls: int, workdir: Path) -> dict[str, Any]:
    stack = LiveKitStack(workdir / "livekit").start()
    bridge = SipBridge(workdir / "sip", stack).start()
    name = f"bench-{uuid.uuid4().hex[:6]}"
    doc = offline_config_doc(agentName=name, pipeline={
        "stt": {"provider": "pocketsphinx"}, "llm": {"provider": "scripted", "script": SCRIPT},
        "tts": {"provider": "flite", "voice": "slt"}})  # fmt: skip
    worker = AgentWorker(workdir / "agent", doc, stack.url, stack.api_key, stack.api_secret)
    question = flite_prompt(QUESTION)
    rows: list[dict[str, float | None]] = []
    try:
        worker.start()
        await provision(stack, name)
        ua = await SipUA(user="bench").start()
        for i in range(calls):
            # a warm job process waits for each call (one initial, one replacement per call)
            await asyncio.to_thread(poll, lambda n=i: (
                worker.log().count("process initialized") >= n + 1
                # livekit-server drops a dispatch while it still sees the worker full
                and worker.log().count("marking as available") >= n
                and "active_jobs" not in worker.worker_info()), 120, "a warm worker")  # fmt: skip
            conv = await converse(ua, bridge.uri(NUMBER), question, caller=CALLER)
            rows.append({"invite_to_ok": conv.invite_to_ok,
                         "invite_to_greeting": conv.invite_to_greeting,
                         "speech_end_to_answer": conv.speech_end_to_answer})  # fmt: skip
            print(f"  call {i + 1}: " + ", ".join(
                f"{k} {v * 1000:.0f} ms" for k, v in rows[-1].items() if v is not None
            ))  # fmt: skip
        await ua.close()
        assert bridge.proc is not None and worker.proc is not None
        rss = {"livekit_sip_mib": rss_kib(bridge.proc.pid) / 1024,
               "worker_main_mib": rss_kib(worker.proc.pid) / 1024}  # fmt: skip
    finally:
        worker.stop()
        bridge.stop()
        stack.stop()
    out: dict[str, Any] = {"calls": calls, "rss_after": rss, "rows": rows}
    for key in ("invite_to_ok", "invite_to_greeting", "speech_end_to_answer"):
        values = [float(v) * 1000 for r in rows if (v := r[key]) is not None]
        out[f"{key}_ms"] = summary(values) if values else None
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sip", description=__doc__)
    parser.add_argument("--calls", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        result = asyncio.run(run(args.calls, Path(tmp)))
    for key in ("invite_to_ok_ms", "invite_to_greeting_ms", "speech_end_to_answer_ms"):
        s = result[key]
        if s:
            print(f"  {key:28} p50 {s['p50']:.0f}  p95 {s['p95']:.0f}  max {s['max']:.0f}")
    print(f"  RSS after the calls: {result['rss_after']}")
    print(f"  wrote {write('sip', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
