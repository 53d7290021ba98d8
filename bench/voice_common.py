"""What the voice-path benchmarks share: the number, the scripted agent, its trunk, timing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from livekit import api

from devstack.livekit import LiveKitStack
from devstack.sipua.rtp import Received, loud

NUMBER = "+15550100100"
CALLER = "+15557770100"
QUESTION = "Are you open on Monday?"
SCRIPT = {
    "intents": [{"name": "hours", "keywords": ["monday", "open"], "reply": "We open at nine."}],
    "fallback": "Sorry, I did not catch that.",
}
PIPELINE = {
    "stt": {"provider": "pocketsphinx"},
    "llm": {"provider": "scripted", "script": SCRIPT},
    "tts": {"provider": "flite", "voice": "slt"},
}
FRAME_S = 0.020
QUIET_S = 1.0  # an answer is over after this long without a loud frame


async def answer_start(
    arrivals: Callable[[], list[Received]], after: float, timeout: float
) -> float:
    """The first loud frame arriving after `after`; returns once that answer has ended."""
    deadline = time.monotonic() + timeout
    start = 0.0
    while time.monotonic() < deadline:
        louds = [r.at for r in arrivals() if r.at > after and loud(r.pcm)]
        if louds:
            start = start or louds[0]
            if time.monotonic() - louds[-1] > QUIET_S:
                return start
        await asyncio.sleep(0.05)
    if start:
        return start
    raise TimeoutError("no answer")


def speech_end(prompt: np.ndarray) -> float:
    """Seconds from a prompt's first frame to the end of its last loud frame."""
    frames = [prompt[i : i + 160] for i in range(0, len(prompt), 160)]
    last = max(i for i, f in enumerate(frames) if loud(f))
    return (last + 1) * FRAME_S


async def provision(
    stack: LiveKitStack, agent_name: str, allowed: str, headers: dict[str, str] | None = None
) -> None:
    """An inbound trunk for NUMBER from `allowed` and a rule putting each call in a room of
    its own with `agent_name` dispatched (as the operator builds them)."""
    async with api.LiveKitAPI(stack.url, stack.api_key, stack.api_secret) as lk:
        info = api.SIPInboundTrunkInfo(name="bench", numbers=[NUMBER], allowed_addresses=[allowed])
        if headers:
            info.headers_to_attributes.update(headers)
        trunk = await lk.sip.create_inbound_trunk(api.CreateSIPInboundTrunkRequest(trunk=info))
        rule = api.SIPDispatchRule(
            dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
        )
        await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    rule=rule,
                    trunk_ids=[trunk.sip_trunk_id],
                    room_config=api.RoomConfiguration(
                        agents=[api.RoomAgentDispatch(agent_name=agent_name)]
                    ),
                )
            )
        )
