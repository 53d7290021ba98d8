"""The operator<->agent contract: rendered config schema, env var names, ports."""

from __future__ import annotations

from switchboard_contract.config import (
    AgentConfig,
    DialogueScript,
    Intent,
    IntentAction,
    LlmConfig,
    ObjectRef,
    PipelineConfig,
    RealtimeConfig,
    SttConfig,
    TelemetryConfig,
    TransferTarget,
    TtsConfig,
)
from switchboard_contract.env import Stage, secret_env

__all__ = [
    "AgentConfig",
    "DialogueScript",
    "Intent",
    "IntentAction",
    "LlmConfig",
    "ObjectRef",
    "PipelineConfig",
    "RealtimeConfig",
    "Stage",
    "SttConfig",
    "TelemetryConfig",
    "TransferTarget",
    "TtsConfig",
    "secret_env",
]
