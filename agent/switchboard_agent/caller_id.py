"""Who is calling: SIP participant attributes, with the phone number hashed for logs/traces."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from livekit import rtc
from switchboard_contract.channels import ATTR_CHANNEL, Channel, channel_of
from switchboard_contract.env import ENV_PII_HASH_KEY

ATTR_CALL_ID = "sip.callID"
ATTR_TRUNK_ID = "sip.trunkID"
ATTR_RULE_ID = "sip.ruleID"
ATTR_PHONE_NUMBER = "sip.phoneNumber"
ATTR_TRUNK_PHONE_NUMBER = "sip.trunkPhoneNumber"
ATTR_CALL_STATUS = "sip.callStatus"
# set by the media-stream gateway (twilio | plivo | telnyx); livekit-sip callers have none


# Without a configured key: one random key per process. Hashes then only correlate within
# one worker, but they can't be reversed by anyone, which a key known to others allows.
_PROCESS_KEY = secrets.token_hex(32)


def hash_key(env: Mapping[str, str] | None = None) -> str:
    """The HMAC key for caller hashes: SWITCHBOARD_PII_HASH_KEY (the operator's, per namespace).

    Phone numbers are few enough to brute-force a plain hash; a keyed one is stable across
    a namespace's workers (repeat callers correlate) yet useless without the key. Never the
    LiveKit API secret: in shared tenancy every tenant's worker holds that one.
    """
    env = os.environ if env is None else env
    return env.get(ENV_PII_HASH_KEY) or _PROCESS_KEY


def hash_value(value: str, key: str | None = None) -> str:
    """A stable tag for a phone number or identity: HMAC-SHA256 (16 hex digits)."""
    key = hash_key() if key is None else key
    digest = hmac.new(key.encode(), value.strip().encode(), hashlib.sha256).hexdigest()
    return "hmac-sha256:" + digest[:16]


@dataclass(frozen=True)
class CallerInfo:
    """The remote party of a call. `phone_number` is raw: never log it, use `number_hash`."""

    identity: str = field(repr=False)
    is_sip: bool
    call_id: str | None = None
    trunk_id: str | None = None
    rule_id: str | None = None
    trunk_phone_number: str | None = None
    phone_number: str | None = field(default=None, repr=False)
    channel: Channel = Channel.SIP

    @property
    def number_hash(self) -> str | None:
        return hash_value(self.phone_number) if self.phone_number else None

    @property
    def identity_hash(self) -> str:
        return hash_value(self.identity)

    def log_fields(self) -> dict[str, str]:
        """Fields safe to log: no raw number, no identity (SIP identities embed the number)."""
        out = {"caller": self.identity_hash, "sip": str(self.is_sip).lower()}
        for key, value in (
            ("sip_call_id", self.call_id),
            ("sip_trunk_id", self.trunk_id),
            ("caller_number", self.number_hash),
        ):
            if value:
                out[key] = value
        return out

    def llm_context(self, *, redact: bool) -> str:
        """What the LLM is told about the caller (the full number only when not redacting)."""
        if not self.is_sip:
            return "The caller joined from a LiveKit client, not a phone line."
        lines = ["The caller is on a phone line."]
        if self.phone_number:
            if redact:
                tail = "".join(c for c in self.phone_number if c.isdigit())[-4:]
                lines.append(f"Their number ends in {tail}." if tail else "")
            else:
                lines.append(f"Their number is {self.phone_number}.")
        else:
            lines.append("Their number is withheld.")
        if self.trunk_phone_number:
            lines.append(f"They dialled {self.trunk_phone_number}.")
        return " ".join(line for line in lines if line)


def caller_from_participant(participant: rtc.RemoteParticipant) -> CallerInfo:
    """Read the SIP attributes livekit-sip sets on a phone caller's participant."""
    attrs = participant.attributes
    is_sip = participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP or bool(
        attrs.get(ATTR_CALL_ID)
    )
    return CallerInfo(
        identity=participant.identity,
        is_sip=is_sip,
        call_id=attrs.get(ATTR_CALL_ID) or None,
        trunk_id=attrs.get(ATTR_TRUNK_ID) or None,
        rule_id=attrs.get(ATTR_RULE_ID) or None,
        trunk_phone_number=attrs.get(ATTR_TRUNK_PHONE_NUMBER) or None,
        phone_number=attrs.get(ATTR_PHONE_NUMBER) or None,
        channel=channel_of(attrs.get(ATTR_CHANNEL), is_sip=is_sip),
    )
