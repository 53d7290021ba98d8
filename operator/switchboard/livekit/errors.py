"""LiveKit failures sorted by what a reconciler does next: retry later, report, or ignore."""

from __future__ import annotations

import re

import aiohttp
from livekit.api import ServerError

# Twirp codes that mean "the request is wrong", as opposed to "the server is unwell".
_REJECTED_CODES = {
    "invalid_argument", "malformed", "already_exists", "failed_precondition",
    "out_of_range", "permission_denied", "unauthenticated", "bad_route",
}  # fmt: skip
_TRUNK_ID = re.compile(r"\bST_[A-Za-z0-9]+\b")
_RULE_ID = re.compile(r"\bSDR_[A-Za-z0-9]+\b")


class LiveKitError(Exception):
    """Base class; `code` is the Twirp code (or `transport`), `message` the server's text."""

    def __init__(self, operation: str, code: str, message: str, status: int | None = None) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{operation}: {code}: {message}" if message else f"{operation}: {code}")


class LiveKitNotConfiguredError(Exception):
    """Neither spec.livekit nor the operator's default LiveKit is set."""


class DefaultLiveKitDeniedError(LiveKitNotConfiguredError):
    """tenancy: isolated, and this namespace is not allowed the operator's default LiveKit."""


class LiveKitUnavailable(LiveKitError):
    """LiveKit cannot be reached or answered with a server-side error: retry with backoff."""


class LiveKitRejected(LiveKitError):
    """LiveKit refused the request (validation, conflict, auth): report it; do not hammer."""

    @property
    def conflicting_trunk_ids(self) -> list[str]:
        """Trunk IDs the server named in a conflict message (one of them may be ours)."""
        return sorted(set(_TRUNK_ID.findall(self.message)))

    @property
    def conflicting_rule_ids(self) -> list[str]:
        return sorted(set(_RULE_ID.findall(self.message)))


class LiveKitNotFound(LiveKitError):
    """The object does not exist (already deleted, or deleted out of band)."""


def translate(operation: str, err: BaseException) -> LiveKitError:
    """Map a livekit-api/aiohttp exception onto the three outcomes above."""
    if isinstance(err, ServerError):
        if err.code == "not_found" or err.status == 404:
            return LiveKitNotFound(operation, err.code, err.message, err.status)
        if err.code in _REJECTED_CODES or (400 <= err.status < 500 and err.code != "unavailable"):
            return LiveKitRejected(operation, err.code, err.message, err.status)
        return LiveKitUnavailable(operation, err.code, err.message, err.status)
    if isinstance(err, TimeoutError):
        return LiveKitUnavailable(operation, "timeout", "request timed out")
    if isinstance(err, aiohttp.ClientError):
        return LiveKitUnavailable(operation, "transport", f"{type(err).__name__}: {err}")
    raise TypeError(f"not a LiveKit error: {err!r}")
