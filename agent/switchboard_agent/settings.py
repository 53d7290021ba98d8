"""Where the worker's settings come from: the rendered config file and a few env overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from switchboard_contract import AgentConfig
from switchboard_contract import env as names


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(names.ENV_AGENT_CONFIG) or str(names.CONFIG_PATH))


def load_config(env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and validate the AgentConfig the operator mounted (path from env)."""
    return AgentConfig.model_validate_json(config_path(env).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Runtime:
    """Listen addresses of the worker's HTTP servers."""

    host: str = ""
    http_port: int = names.HTTP_PORT
    prometheus_port: int = names.PROMETHEUS_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Runtime:
        env = os.environ if env is None else env
        return cls(
            host=env.get(names.ENV_HTTP_HOST, ""),
            http_port=int(env.get(names.ENV_HTTP_PORT) or names.HTTP_PORT),
            prometheus_port=int(env.get(names.ENV_PROMETHEUS_PORT) or names.PROMETHEUS_PORT),
        )
