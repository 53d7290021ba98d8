"""The kopf entry module: importing it registers every handler."""

from __future__ import annotations

from switchboard import startup
from switchboard.siptrunk import handlers as siptrunk_handlers
from switchboard.voiceagent import handlers as voiceagent_handlers

__all__ = ["siptrunk_handlers", "startup", "voiceagent_handlers"]
