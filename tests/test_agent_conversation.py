"""livekit tier: a dispatched worker greets, hears a flite-spoken question, answers with flite."""

from __future__ import annotations

import pytest
from livekit import api
from switchboard_agent.local import FliteTTS, PocketsphinxSTT

from devstack.livekit import LiveKitStack
from tests.support.agent_caller import transcribe
from tests.support.agent_livekit import (
    WorkerFactory,
    call,
)
from tests.support.phrases import GREETING, LineMatcher

pytestmark = pytest.mark.livekit


async def test_conversation(
    livekit_server: LiveKitStack,
    agent_worker: WorkerFactory,
    lkapi: api.LiveKitAPI,
) -> None:
    worker = agent_worker()
    caller = await call(livekit_server, lkapi, worker.config["agentName"])
    stt, tts = PocketsphinxSTT(), FliteTTS()
    try:
        greeting = await caller.next_utterance()
        assert LineMatcher().which(greeting.pcm) == GREETING, transcribe(greeting.pcm, stt)

        await caller.say("What are your opening hours?", tts)
        answer = await caller.next_utterance()
        heard = transcribe(answer.pcm, stt)
        # "We are open from nine to five, Monday to Friday."
        assert sum(w in heard for w in ("open", "nine", "five", "monday", "friday")) >= 2, heard
    finally:
        await caller.close()
