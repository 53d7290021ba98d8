"""Names and numbers shared by operator and agent: env vars, mount path, ports."""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath

# The rendered AgentConfig (JSON) is mounted from a ConfigMap at this path.
CONFIG_MOUNT_DIR = PurePosixPath("/etc/switchboard")
CONFIG_FILE_NAME = "agent-config.json"
CONFIG_PATH = CONFIG_MOUNT_DIR / CONFIG_FILE_NAME
# ... and the agent reads the path from this env var (default: CONFIG_PATH).
ENV_AGENT_CONFIG = "SWITCHBOARD_AGENT_CONFIG"

# LiveKit connection (the names livekit-agents reads itself).
ENV_LIVEKIT_URL = "LIVEKIT_URL"
ENV_LIVEKIT_API_KEY = "LIVEKIT_API_KEY"
ENV_LIVEKIT_API_SECRET = "LIVEKIT_API_SECRET"

# Optional HMAC key for caller-number hashes in logs/traces (from a Secret). Unset: the
# LiveKit API secret keys them, so hashes agree across a deployment but can't be reversed.
ENV_PII_HASH_KEY = "SWITCHBOARD_PII_HASH_KEY"

# Worker HTTP server: GET / (health: 200 "OK", 503 when not connected to LiveKit) and
# GET /worker (JSON: agent_name, active_jobs, worker_load; zero values are omitted).
HTTP_PORT = 8081
HEALTH_PATH = "/"
WORKER_PATH = "/worker"
# Prometheus metrics at GET /metrics: lk_agents_* plus switchboard_agent_* (see README).
PROMETHEUS_PORT = 9464
METRICS_PATH = "/metrics"
# Overrides, mostly for tests and local runs (the pod uses the defaults above).
ENV_HTTP_HOST = "SWITCHBOARD_HTTP_HOST"
ENV_HTTP_PORT = "SWITCHBOARD_HTTP_PORT"
ENV_PROMETHEUS_PORT = "SWITCHBOARD_PROMETHEUS_PORT"


class Stage(StrEnum):
    """A provider stage whose API key arrives from a Secret (apiKeySecretRef)."""

    STT = "STT"
    LLM = "LLM"
    TTS = "TTS"
    REALTIME = "REALTIME"


def secret_env(stage: Stage) -> str:
    """Env var carrying the API key of `stage`'s provider, e.g. SWITCHBOARD_SECRET_LLM."""
    return f"SWITCHBOARD_SECRET_{stage.value}"
