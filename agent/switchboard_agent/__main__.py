"""`switchboard-agent [start|dev|...]`: load the config, check providers, run the worker."""

from __future__ import annotations

import sys

from livekit.agents import cli

from switchboard_agent.providers import build_pipeline
from switchboard_agent.report import Reporter
from switchboard_agent.settings import Runtime, load_config
from switchboard_agent.worker import build_server


def main(argv: list[str] | None = None) -> None:
    """Entry point; with no subcommand the worker starts in production mode (`start`)."""
    args = sys.argv[1:] if argv is None else argv
    config = load_config()
    build_pipeline(config.pipeline, config.realtime)  # fail fast on a bad config or key
    server, slots = build_server(config, Runtime.from_env())
    # the operator's scaler hears about every change of the active-call count
    reporter = Reporter.from_env(config, active=slots.in_use, draining=lambda: slots.draining)
    if reporter is not None:
        reporter.start()
    sys.argv = [sys.argv[0], *(args or ["start"])]
    cli.run_app(server)


if __name__ == "__main__":
    main()
