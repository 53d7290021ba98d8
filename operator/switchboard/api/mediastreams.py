"""VoiceAgent spec.mediaStreams: carrier WebSocket streams (through the gateway) it accepts."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from switchboard.api.common import Model, SecretKeyRef

StreamProvider = Literal["twilio", "plivo", "telnyx"]
PROVIDERS: tuple[StreamProvider, ...] = ("twilio", "plivo", "telnyx")


class MediaStreamProvider(Model):
    """One carrier whose streams reach this agent, and how its webhooks are verified."""

    provider: StreamProvider = Field(description="twilio, plivo (also Vobiz) or telnyx.")
    credentials_secret_ref: SecretKeyRef = Field(
        description=(
            "Secret key (same namespace) the gateway verifies webhooks with: the Twilio or"
            " Plivo account auth token, or the Telnyx base64 ed25519 public key."
        )
    )


class MediaStreams(Model):
    """WebSocket media streams: the carrier's answer webhook points its stream at the gateway."""

    providers: list[MediaStreamProvider] = Field(
        min_length=1,
        max_length=len(PROVIDERS),
        description="The carriers accepted, each once.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["provider"],
        },
    )

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        seen: set[str] = set()
        for index, entry in enumerate(self.providers):
            if entry.provider in seen:
                raise ValueError(f"providers[{index}].provider: {entry.provider!r} is listed twice")
            seen.add(entry.provider)
        return self


class StreamWebhook(Model):
    """The answer URL to paste into one provider's console."""

    provider: str = Field(description="twilio, plivo or telnyx.")
    url: str = Field(description="Answer webhook (POST) for the provider's number or app.")


class MediaStreamsStatus(Model):
    """What the carriers need configured."""

    webhooks: list[StreamWebhook] = Field(
        default_factory=list, description="One answer webhook per accepted provider."
    )
