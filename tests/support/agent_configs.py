"""Sample AgentConfig documents for the agent tests (offline providers, a small IVR script)."""

from __future__ import annotations

import copy
from typing import Any

from switchboard_contract import AgentConfig

GREETING = "Hello, thank you for calling the shop."
SCRIPT: dict[str, Any] = {
    "intents": [
        {
            "name": "hours",
            "keywords": ["open", "hours", "time"],
            "reply": "We are open from nine to five, Monday to Friday.",
        },
        {
            "name": "operator",
            "keywords": ["operator", "human", "person"],
            "reply": "Transferring you to an operator now.",
            "action": {"type": "transfer", "target": "frontdesk"},
        },
        {
            "name": "goodbye",
            "keywords": ["goodbye", "bye", "hang up"],
            "reply": "Thank you for calling. Goodbye.",
            "action": {"type": "hangup"},
        },
    ],
    "fallback": "Sorry, I can only help with our opening hours.",
}


def offline_config_doc(**overrides: Any) -> dict[str, Any]:
    """A complete camelCase config document using only the offline providers."""
    doc: dict[str, Any] = {
        "agentName": "switchboard-test-agent",
        "voiceAgent": {"namespace": "default", "name": "front-desk"},
        "instructions": "You are the front desk of a small shop.",
        "greeting": GREETING,
        "pipeline": {
            "stt": {"provider": "pocketsphinx", "language": "en-US"},
            "llm": {"provider": "scripted", "script": copy.deepcopy(SCRIPT)},
            "tts": {"provider": "flite", "voice": "slt"},
        },
        "transferTargets": [{"name": "frontdesk", "uri": "sip:frontdesk@127.0.0.1"}],
        "maxCallDuration": 120,
        "callsPerWorker": 1,
        "drainTimeout": 60,
        "telemetry": {"samplingRatio": 1.0, "redactPII": True},
    }
    doc.update(overrides)
    return doc


def offline_config(**overrides: Any) -> AgentConfig:
    return AgentConfig.model_validate(offline_config_doc(**overrides))
