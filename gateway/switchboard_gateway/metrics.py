"""The gateway's Prometheus metrics (no raw numbers or call IDs in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTIVE_STREAMS = Gauge(
    "switchboard_gateway_active_streams", "Carrier streams bridged right now", ["provider"]
)
STREAMS_ENDED = Counter(
    "switchboard_gateway_streams_ended_total", "Streams ended, by reason", ["provider", "reason"]
)
WEBHOOKS = Counter(
    "switchboard_gateway_webhooks_total", "Answer webhooks, by result", ["provider", "result"]
)
STREAM_REJECTS = Counter(
    "switchboard_gateway_stream_rejects_total", "Stream connects refused", ["provider", "reason"]
)
CLEARS = Counter("switchboard_gateway_clears_total", "Barge-in clears sent", ["provider"])
MARKS_ECHOED = Counter(
    "switchboard_gateway_marks_echoed_total", "Marks/checkpoints the carrier echoed", ["provider"]
)
WEB_SESSIONS = Counter(
    "switchboard_gateway_web_sessions_total", "Browser session requests, by result", ["result"]
)
