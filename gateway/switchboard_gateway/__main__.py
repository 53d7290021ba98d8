"""`switchboard-gateway`: serve the media-stream gateway (config from the environment)."""

from __future__ import annotations

import os
import sys

from aiohttp import web
from prometheus_client import start_http_server

from switchboard_gateway import config as gateway_config
from switchboard_gateway import logs
from switchboard_gateway.app import build_app

DEFAULT_LISTEN = "0.0.0.0:8080"  # in a pod the gateway listens on all interfaces


def _hostport(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return (host or "0.0.0.0"), int(port or default_port)


def main() -> int:
    logs.setup()
    config = gateway_config.load()
    host, port = _hostport(os.environ.get(gateway_config.ENV_LISTEN, DEFAULT_LISTEN), 8080)
    metrics = os.environ.get(gateway_config.ENV_METRICS_LISTEN, "")
    if metrics:
        m_host, m_port = _hostport(metrics, 9464)
        start_http_server(m_port, addr=m_host)
    # no access log: stream URLs carry per-call tokens, which are credentials
    web.run_app(build_app(config), host=host, port=port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
