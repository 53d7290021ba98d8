"""Pure builders: a SipTrunk spec (+ resolved credentials) -> the LiveKit trunk messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.duration_pb2 import Duration as PbDuration
from livekit import api

from switchboard.api.common import parse_duration
from switchboard.api.siptrunk import SipInbound, SipOutbound
from switchboard.names import Owner

INBOUND, OUTBOUND = "inbound", "outbound"

_ENCRYPTION = {
    "disable": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE,
    "allow": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW,
    "require": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE,
}
_TRANSPORT = {
    "auto": api.SIPTransport.SIP_TRANSPORT_AUTO,
    "udp": api.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": api.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": api.SIPTransport.SIP_TRANSPORT_TLS,
}

# The fields Switchboard owns on each LiveKit object; drift is judged on these only,
# so server-populated fields (IDs, timestamps) never look like drift.
INBOUND_FIELDS = (
    "name",
    "metadata",
    "numbers",
    "allowed_addresses",
    "allowed_numbers",
    "auth_username",
    "auth_password",
    "headers_to_attributes",
    "ringing_timeout",
    "max_call_duration",
    "krisp_enabled",
    "media_encryption",
)
OUTBOUND_FIELDS = (
    "name",
    "metadata",
    "address",
    "transport",
    "numbers",
    "auth_username",
    "auth_password",
    "destination_country",
    "media_encryption",
)


@dataclass(frozen=True)
class Credentials:
    """Digest credentials read from a Secret; the password never prints."""

    username: str
    password: str = field(repr=False)


def _duration(value: str | None) -> PbDuration | None:
    if value is None:
        return None
    total = parse_duration(value)
    seconds = int(total.total_seconds())
    return PbDuration(seconds=seconds, nanos=total.microseconds * 1000)


def inbound_trunk(
    owner: Owner, spec: SipInbound, auth: Credentials | None
) -> api.SIPInboundTrunkInfo:
    info = api.SIPInboundTrunkInfo(
        name=owner.livekit_name(INBOUND),
        metadata=owner.metadata(INBOUND),
        numbers=list(spec.numbers),
        allowed_addresses=list(spec.allowed_addresses),
        allowed_numbers=list(spec.allowed_numbers),
        auth_username=auth.username if auth else "",
        auth_password=auth.password if auth else "",
        headers_to_attributes=dict(spec.headers_to_attributes),
        krisp_enabled=spec.krisp,
        media_encryption=_ENCRYPTION[spec.media_encryption],
    )
    for name in ("ringing_timeout", "max_call_duration"):
        value = _duration(getattr(spec, name))
        if value is not None:
            getattr(info, name).CopyFrom(value)
    return info


def outbound_trunk(
    owner: Owner, spec: SipOutbound, auth: Credentials | None
) -> api.SIPOutboundTrunkInfo:
    return api.SIPOutboundTrunkInfo(
        name=owner.livekit_name(OUTBOUND),
        metadata=owner.metadata(OUTBOUND),
        address=spec.address,
        transport=_TRANSPORT[spec.transport],
        numbers=list(spec.numbers),
        auth_username=auth.username if auth else "",
        auth_password=auth.password if auth else "",
        destination_country=spec.destination_country or "",
        media_encryption=_ENCRYPTION[spec.media_encryption],
    )
