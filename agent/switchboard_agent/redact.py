"""Keep raw caller data out of logs: `lk.pii.*` fields and known caller strings are hashed."""

from __future__ import annotations

import logging

from switchboard_agent.caller_id import hash_value

PII_PREFIX = "lk.pii."


class PiiLogFilter(logging.Filter):
    """Hashes `lk.pii.*` extra fields and every occurrence of registered sensitive strings."""

    def __init__(self) -> None:
        super().__init__()
        self._sensitive: dict[str, str] = {}

    def add_sensitive(self, *values: str | None) -> None:
        """Hash these strings (a caller's number, a SIP identity) wherever they appear."""
        for value in values:
            if value and len(value) >= 4:
                self._sensitive[value] = hash_value(value)

    def _scrub(self, text: str) -> str:
        for raw, hashed in self._sensitive.items():
            if raw in text:
                text = text.replace(raw, hashed)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key.startswith(PII_PREFIX) and value is not None:
                setattr(record, key, hash_value(str(value)))
            elif isinstance(value, str) and self._sensitive and key != "msg":
                setattr(record, key, self._scrub(value))
        if self._sensitive:
            record.msg = self._scrub(record.getMessage())
            record.args = None
        return True


PII_FILTER = PiiLogFilter()


def install_pii_log_filter() -> None:
    """Attach the filter to the root logger's handlers (records of every logger pass them)."""
    for handler in logging.getLogger().handlers:
        if PII_FILTER not in handler.filters:
            handler.addFilter(PII_FILTER)
