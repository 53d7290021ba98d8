"""Serving the operator's small HTTP apps (worker reports, metrics) on their own ports."""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger(__name__)


async def serve(app: web.Application, host: str, port: int, what: str) -> web.AppRunner:
    """Start `app` on host:port; the caller keeps the runner and cleans it up on shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("%s on http://%s:%d", what, host, port)
    return runner
