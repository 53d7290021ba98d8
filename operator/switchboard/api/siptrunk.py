"""SipTrunk: a carrier trunk reconciled onto LiveKit SIP inbound/outbound trunks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from switchboard.api.common import (
    CONDITIONS_FIELD_EXTRA,
    E164,
    CallDuration,
    Condition,
    DurationBounds,
    GoDuration,
    LiveKitRef,
    Model,
    ObjectName,
    cel,
)

MAX_NUMBERS = 100
MAX_ADDRESSES = 64

# host or host:port, no scheme: LiveKit rejects `sip:` URIs in an outbound trunk address.
HOST_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$"


class SipAuthSecretRef(Model):
    """Digest credentials in a Secret."""

    name: ObjectName = Field(description="Name of the Secret in the same namespace.")
    username_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="username", description="Key of the digest username in the Secret."
    )
    password_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="password", description="Key of the digest password in the Secret."
    )


MediaEncryption = Literal["disable", "allow", "require"]


class SipInbound(Model):
    """Calls from the carrier into LiveKit."""

    model_config = cel(
        {
            "rule": "(has(self.numbers) && size(self.numbers) > 0)"
            " || (has(self.allowedAddresses) && size(self.allowedAddresses) > 0)"
            " || has(self.authSecretRef)",
            "message": "an inbound trunk needs at least one of numbers, "
            "allowedAddresses or authSecretRef",
        }
    )

    numbers: list[E164] = Field(
        default_factory=list,
        max_length=MAX_NUMBERS,
        description="Numbers (E.164) this trunk answers, e.g. +15105550100.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    allowed_addresses: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_ADDRESSES,
        description="Source IPs or CIDRs allowed to send INVITEs (the carrier's signalling IPs).",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(a, isIP(a) || isCIDR(a))",
                    "message": "every allowedAddresses entry must be an IP address or a CIDR",
                }
            ],
        },
    )
    allowed_numbers: list[E164] = Field(
        default_factory=list,
        max_length=MAX_NUMBERS,
        description="Caller numbers (E.164) allowed to call; empty allows any caller.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    auth_secret_ref: SipAuthSecretRef | None = Field(
        default=None, description="Digest credentials the carrier must present."
    )
    media_encryption: MediaEncryption = Field(
        default="disable", description="SRTP policy: disable, allow or require."
    )
    krisp: bool = Field(default=False, description="Enable Krisp noise cancellation on calls.")
    headers_to_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="SIP headers copied to participant attributes (header name -> attribute).",
    )
    ringing_timeout: Annotated[GoDuration, DurationBounds("1s", "10m")] | None = Field(
        default=None, description="How long an unanswered call may ring, e.g. 30s."
    )
    max_call_duration: CallDuration | None = Field(
        default=None, description="Hard limit on a call's length enforced by LiveKit, e.g. 1h."
    )


class SipOutbound(Model):
    """Calls from LiveKit out through the carrier."""

    address: Annotated[str, StringConstraints(pattern=HOST_PATTERN, max_length=253)] = Field(
        description="Carrier SIP host, optionally host:port; not a sip: URI.",
    )
    transport: Literal["auto", "udp", "tcp", "tls"] = Field(
        default="auto", description="SIP transport: auto, udp, tcp or tls."
    )
    numbers: list[E164] = Field(
        min_length=1,
        max_length=MAX_NUMBERS,
        description="Caller-ID numbers (E.164) this trunk may dial out from.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    auth_secret_ref: SipAuthSecretRef | None = Field(
        default=None, description="Digest credentials for the carrier."
    )
    destination_country: (
        Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$", max_length=2)] | None
    ) = Field(default=None, description="ISO 3166-1 alpha-2 country the carrier is in, e.g. US.")
    media_encryption: MediaEncryption = Field(
        default="disable", description="SRTP policy: disable, allow or require."
    )


class SipTrunkSpec(Model):
    """Desired state of a SipTrunk."""

    model_config = cel(
        {
            "rule": "has(self.inbound) || has(self.outbound)",
            "message": "at least one of spec.inbound or spec.outbound is required",
        }
    )

    livekit: LiveKitRef | None = Field(
        default=None, description="LiveKit deployment; defaults to the operator's."
    )
    inbound: SipInbound | None = Field(
        default=None, description="Inbound trunk: calls from the carrier to agents."
    )
    outbound: SipOutbound | None = Field(
        default=None, description="Outbound trunk: calls placed by agents."
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete removes the LiveKit trunks with the object; Orphan leaves them.",
    )


class SipTrunkStatus(Model):
    """Observed state of a SipTrunk."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready and Synced conditions.",
        json_schema_extra=CONDITIONS_FIELD_EXTRA,
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation last reconciled."
    )
    inbound_trunk_id: str | None = Field(
        default=None, alias="inboundTrunkID", description="LiveKit inbound trunk ID (ST_...)."
    )
    outbound_trunk_id: str | None = Field(
        default=None, alias="outboundTrunkID", description="LiveKit outbound trunk ID (ST_...)."
    )
    last_sync_time: str | None = Field(
        default=None,
        description="When LiveKit last matched the spec (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


class SipTrunk(Model):
    """A carrier SIP trunk (Twilio, Telnyx, Vobiz, a PBX) managed on LiveKit."""

    spec: SipTrunkSpec = Field(description="Desired state.")
    status: SipTrunkStatus | None = Field(default=None, description="Observed state.")
