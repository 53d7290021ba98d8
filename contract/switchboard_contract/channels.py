"""How a call reached the agent: the caller participant's `switchboard.channel` attribute."""

from __future__ import annotations

from enum import StrEnum

# Set by the gateway on the participants it creates (streams, browser tokens) and, for SIP
# over WebSocket, by livekit-sip from the SBC's X-Switchboard-Channel header (the inbound
# trunk's headersToAttributes); read by the worker for its logs, traces and reports.
ATTR_CHANNEL = "switchboard.channel"
SBC_CHANNEL_HEADER = "X-Switchboard-Channel"


class Channel(StrEnum):
    SIP = "sip"  # a phone call through livekit-sip
    TWILIO = "twilio"  # carrier WebSocket media streams, through the gateway
    PLIVO = "plivo"
    TELNYX = "telnyx"
    WEB = "web"  # a browser's WebRTC session (the widget)
    SIPWS = "sipws"  # a JsSIP/SIP.js softphone over WebSocket, through the SBC
    LIVEKIT = "livekit"  # any other LiveKit client


def channel_of(value: str | None, *, is_sip: bool) -> Channel:
    """The channel an attribute names; anything else (absent, or a value a SIP caller put in
    a header the trunk maps) counts as the transport it came by, so traces and metrics only
    ever see the known names."""
    try:
        return Channel(value or "")
    except ValueError:
        return Channel.SIP if is_sip else Channel.LIVEKIT
