"""Serving the operator's small HTTP apps (worker reports, metrics) on their own ports."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger(__name__)


class MalformedRequests(logging.Filter):
    """A request aiohttp cannot parse (broken chunking, an undecodable gzip body) is the
    client's fault, not ours: one line naming the error type, no traceback, no input. A flood
    of such requests must not fill the operator's log; real server errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError | RequestPayloadError):
            record.msg, record.args = "malformed HTTP request refused: %s", (type(exc).__name__,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


# aiohttp's server log for our apps only (not its module logger, which others may share).
http_log = logging.getLogger(f"{__name__}.http")
http_log.addFilter(MalformedRequests())


async def serve(
    app: web.Application, host: str, port: int, what: str, linger_s: float = 10.0
) -> web.AppRunner:
    """Start `app` on host:port; the caller keeps the runner and cleans it up on shutdown.

    `linger_s`: how long aiohttp keeps reading (and dropping) a body the app did not read
    after answering early, so the client still gets the answer (aiohttp's default: 10 s)."""
    runner = web.AppRunner(app, access_log=None, logger=http_log, lingering_time=linger_s)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("%s on http://%s:%d", what, host, port)
    return runner
