"""VoiceAgent spec.web: browser sessions (click-to-call) that the gateway hands out."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from switchboard.api.common import DurationBounds, GoDuration, Model, SecretKeyRef

# an origin as a browser sends it: scheme, host, optional port; no path, no trailing slash
Origin = Annotated[
    str,
    StringConstraints(pattern=r"^(\*|https?://[a-z0-9.-]+(:[0-9]{1,5})?)$", max_length=253),
]


class WebSessions(Model):
    """Who may start a browser call with this agent, and how many at once."""

    enabled: bool = Field(default=True, description="Hand out browser sessions.")
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Sites (https://shop.example.com) whose pages may start calls; '*' allows any."
            " The gateway's own demo page is allowed while demoPage is on."
        ),
    )
    demo_page: bool = Field(
        default=True,
        description=(
            "Serve a demo page at the gateway's /demo/{namespace}/{name}. Its calls come from"
            " the gateway's own origin, outside allowedOrigins; the embed key still applies."
        ),
    )
    embed_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="A key the embedding page must present (X-Switchboard-Embed-Key).",
    )
    session_ttl: Annotated[GoDuration, DurationBounds("30s", "4h")] = Field(
        default="15m", description="A browser call is ended after this long."
    )
    max_concurrent_sessions: int = Field(
        default=10, ge=1, le=1000, description="Browser calls at once; more get HTTP 429."
    )
