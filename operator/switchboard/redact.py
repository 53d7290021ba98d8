"""Phone numbers out of the operator's log: every record is masked before any handler sees it."""

from __future__ import annotations

import logging
import re

# E.164 as it appears in specs and kopf's debug dumps of them; masked like status.toMasked.
_NUMBER = re.compile(r"\+[1-9][0-9]{7,14}")


def mask(text: str) -> str:
    return _NUMBER.sub(lambda m: f"{m.group(0)[:5]}•••{m.group(0)[-4:]}", text)


class NumberMask(logging.Filter):
    """OutboundCall specs hold the number to call, and kopf logs patches and bodies at debug
    level (`--verbose`): mask the formatted message, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install() -> None:
    """On every handler of the root logger (kopf has configured them by startup)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, NumberMask) for f in handler.filters):
            handler.addFilter(NumberMask())
