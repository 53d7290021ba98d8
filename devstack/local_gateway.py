"""`make up`'s media-stream gateway: streams, browser sessions, /widget.js and the demo pages.

The operator publishes each VoiceAgent's route to the routes Secret, as in a cluster; a mirror
process stands in for the Secret volume (devstack/routes_mirror.py) and the gateway reads the
files. `make up` turns on spec.web for the example agents, so each gets a demo page.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from switchboard.config import ENV_GATEWAY_PUBLIC_URL, ENV_GATEWAY_ROUTES_SECRET

from devstack import tools
from devstack.procs import Process, free_port
from devstack.runstate import RunState
from devstack.tools import REPO
from devstack.up_summary import Progress, http_ok

ROUTES_SECRET = "switchboard-gateway-routes"
PREFERRED_PORT = 8088


def plan(state: RunState, namespace: str, port: int) -> dict[str, str]:
    """Where the gateway will listen; the operator needs it before either starts."""
    url = f"http://127.0.0.1:{port}"
    state.info["gateway"] = {
        "url": url,
        "port": port,
        "routes_secret": f"{namespace}/{ROUTES_SECRET}",
    }
    state.save()
    return {ENV_GATEWAY_PUBLIC_URL: url, ENV_GATEWAY_ROUTES_SECRET: f"{namespace}/{ROUTES_SECRET}"}


def with_web(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The examples as `make up` applies them: browser sessions on for every VoiceAgent."""
    return [
        {**doc, "spec": {**doc["spec"], "web": {"enabled": True}}}
        if doc["kind"] == "VoiceAgent" and "web" not in doc["spec"]
        else doc
        for doc in docs
    ]


def start(
    state: RunState, progress: Progress, run_dir: Path, admin: Path, pii_root_key: str
) -> None:
    """The routes mirror, then the gateway; returns once the gateway answers /healthz."""
    gw, lk = state.info["gateway"], state.info["livekit"]
    routes = run_dir / "gateway-routes"
    mirror = Process(
        "routes-mirror",
        [
            sys.executable,
            "-m",
            "devstack.routes_mirror",
            str(admin),
            gw["routes_secret"],
            str(routes),
        ],
        run_dir / "logs" / "routes-mirror.log",
        cwd=REPO,
    ).start()
    state.add(
        "routes-mirror", mirror.pid, mirror.log_path, f"Secret/{gw['routes_secret']} -> {routes}"
    )
    widget = tools.widget()
    if not widget.exists():
        progress.say(f"!!  {widget} is missing (make tools): /widget.js will answer 404")
    metrics = free_port()
    env = {
        "LIVEKIT_URL": lk["url"],
        "LIVEKIT_API_KEY": lk["api_key"],
        "LIVEKIT_API_SECRET": lk["api_secret"],
        "SWITCHBOARD_GATEWAY_PUBLIC_URL": gw["url"],
        "SWITCHBOARD_GATEWAY_LISTEN": f"127.0.0.1:{gw['port']}",
        "SWITCHBOARD_GATEWAY_ROUTES_DIR": str(routes),
        "SWITCHBOARD_GATEWAY_WIDGET": str(widget),
        "SWITCHBOARD_METRICS_LISTEN": f"127.0.0.1:{metrics}",
        "SWITCHBOARD_PII_ROOT_KEY": pii_root_key,
        "PYTHONUNBUFFERED": "1",
    }
    health = f"{gw['url']}/healthz"
    progress.say(f"gateway: python -m switchboard_gateway on {gw['url']} (routes {routes})")
    proc = Process(
        "gateway",
        [sys.executable, "-m", "switchboard_gateway"],
        run_dir / "logs" / "gateway.log",
        env=env,
        cwd=REPO,
    ).start()
    state.add("gateway", proc.pid, proc.log_path, health)
    proc.wait_ready(lambda: http_ok(health), 60)
    progress.say(f"ok  gateway up ({health}), widget {widget}")


def demo_urls(state: RunState, namespace: str, agents: list[str]) -> None:
    """Each example agent's demo page, for the summary (`make up` prints them)."""
    base = state.info["gateway"]["url"]
    state.info["gateway"]["demos"] = {a: f"{base}/demo/{namespace}/{a}" for a in agents}
    state.save()
