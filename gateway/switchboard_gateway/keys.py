"""The aiohttp app keys every handler module shares (config, the LiveKit API client)."""

from __future__ import annotations

from aiohttp import web
from livekit import api

from switchboard_gateway.config import GatewayConfig

CONFIG = web.AppKey("config", GatewayConfig)
LKAPI = web.AppKey("lkapi", api.LiveKitAPI)
