"""The kopf entry point: `register(config)` wires every handler, with the config read once.

Most handlers register when their module is imported; the ones that need the config (the
resync timers' interval, the startup handler) are registered here, so nothing reads the
environment at import time.
"""

from __future__ import annotations

import functools

import kopf

from switchboard import startup
from switchboard.campaign import handlers as campaign_handlers
from switchboard.config import OperatorConfig
from switchboard.outbound import handlers as outbound_handlers
from switchboard.outbound import index as outbound_index
from switchboard.siptrunk import handlers as siptrunk_handlers
from switchboard.siptrunk import index as siptrunk_index
from switchboard.voiceagent import claims as voiceagent_claims
from switchboard.voiceagent import handlers as voiceagent_handlers

__all__ = [
    "campaign_handlers",
    "outbound_handlers",
    "outbound_index",
    "register",
    "siptrunk_index",
    "voiceagent_claims",
]  # importing the modules registers their handlers


def register(config: OperatorConfig) -> None:
    """Add the config-dependent handlers to kopf's default registry (call once per process)."""
    kopf.on.startup(id="configure")(functools.partial(startup.configure, config=config))
    resync = config.resync_seconds
    for resource, handler in (
        (siptrunk_handlers.RESOURCE, siptrunk_handlers.siptrunk_resync),
        (voiceagent_handlers.RESOURCE, voiceagent_handlers.voiceagent_resync),
    ):
        kopf.timer(*resource, interval=resync, initial_delay=resync, id=handler.__name__)(handler)
