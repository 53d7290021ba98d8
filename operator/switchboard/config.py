"""Operator configuration from the environment (the chart sets these)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from switchboard.api.common import parse_duration
from switchboard.livekit.client import LiveKitEndpoint

ENV_LIVEKIT_URL = "LIVEKIT_URL"
ENV_LIVEKIT_API_KEY = "LIVEKIT_API_KEY"
ENV_LIVEKIT_API_SECRET = "LIVEKIT_API_SECRET"
ENV_RESYNC_PERIOD = "SWITCHBOARD_RESYNC_PERIOD"
ENV_AGENT_IMAGE = "SWITCHBOARD_AGENT_IMAGE"

DEFAULT_AGENT_IMAGE = "ghcr.io/switchboard-dev/switchboard-agent:0.1.0"


class OperatorConfig(BaseModel):
    """What the operator needs besides the watched objects."""

    model_config = ConfigDict(frozen=True)

    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    resync_seconds: float = Field(default=60.0, gt=0)
    agent_image: str = DEFAULT_AGENT_IMAGE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if env is None else env
        resync = env.get(ENV_RESYNC_PERIOD)
        return cls(
            livekit_url=env.get(ENV_LIVEKIT_URL) or None,
            livekit_api_key=env.get(ENV_LIVEKIT_API_KEY) or None,
            livekit_api_secret=SecretStr(env[ENV_LIVEKIT_API_SECRET])
            if env.get(ENV_LIVEKIT_API_SECRET)
            else None,
            resync_seconds=parse_duration(resync).total_seconds() if resync else 60.0,
            agent_image=env.get(ENV_AGENT_IMAGE) or DEFAULT_AGENT_IMAGE,
        )

    def default_livekit(self) -> LiveKitEndpoint | None:
        if not (self.livekit_url and self.livekit_api_key and self.livekit_api_secret):
            return None
        return LiveKitEndpoint(
            self.livekit_url, self.livekit_api_key, self.livekit_api_secret.get_secret_value()
        )
