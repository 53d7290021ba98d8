"""unit tier: the gateway's pure parts: μ-law, the three dialects, signatures, tokens, XML."""

from __future__ import annotations

import base64
import hashlib
import hmac
import warnings
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from switchboard_gateway import answers, mulaw, signatures, tokens
from switchboard_gateway.config import GatewayConfig
from switchboard_gateway.plivo import Plivo, parse_extra_headers
from switchboard_gateway.protocol import (
    CarrierError,
    Cleared,
    Connected,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    load,
)
from switchboard_gateway.telnyx import Telnyx
from switchboard_gateway.twilio import Twilio

pytestmark = pytest.mark.unit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the stdlib's C G.711 (until 3.13): an independent reference


# -- μ-law ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sample", "code", "decoded"),
    [
        (0, 0xFF, 0),
        (1000, 0xCE, 988),
        (-1000, 0x4E, -988),
        (32767, 0x80, 32124),
        (-32768, 0x00, -32124),
        (8, 0xFE, 8),
    ],
)
def test_mulaw_known_vectors(sample: int, code: int, decoded: int) -> None:
    pcm = sample.to_bytes(2, "little", signed=True)
    assert mulaw.encode(pcm) == bytes([code])
    assert mulaw.decode(bytes([code])) == decoded.to_bytes(2, "little", signed=True)


def test_mulaw_matches_the_reference_codec_everywhere() -> None:
    every_code = bytes(range(256))
    assert mulaw.decode(every_code) == audioop.ulaw2lin(every_code, 2)
    every_sample = b"".join(s.to_bytes(2, "little", signed=True) for s in range(-32768, 32768))
    assert mulaw.encode(every_sample) == audioop.lin2ulaw(every_sample, 2)


def test_mulaw_rejects_half_samples() -> None:
    with pytest.raises(ValueError, match="pcm: 3 bytes"):
        mulaw.encode(b"\x00\x01\x02")


# -- dialects -----------------------------------------------------------------------------
PAYLOAD = base64.b64encode(bytes([0xFF]) * 160).decode()

TWILIO_START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC0",
        "streamSid": "MZ1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"from": "+15550100200", "to": "+15550100100"},
    },
    "streamSid": "MZ1",
}


def test_twilio_messages() -> None:
    d = Twilio()
    assert d.parse({"event": "connected", "protocol": "Call", "version": "1.0.0"}) == Connected()
    start = d.parse(TWILIO_START)
    assert isinstance(start, Start)
    assert (start.stream_id, start.call_id, start.encoding, start.sample_rate) == (
        "MZ1",
        "CA1",
        "audio/x-mulaw",
        8000,
    )
    assert (start.caller, start.called) == ("+15550100200", "+15550100100")
    assert "+1555" not in repr(start)  # numbers never reach a log through repr
    media = {
        "event": "media",
        "sequenceNumber": "3",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": PAYLOAD},
    }
    assert d.parse(media) == Media(bytes([0xFF]) * 160, 3, 5)
    assert d.parse({**media, "media": {**media["media"], "track": "outbound"}}) is None
    assert d.parse(
        {
            "event": "dtmf",
            "streamSid": "MZ1",
            "sequenceNumber": "5",
            "dtmf": {"track": "inbound_track", "digit": "1"},
        }
    ) == Dtmf("1")
    assert d.parse(
        {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ1", "mark": {"name": "turn-1"}}
    ) == Mark("turn-1")
    assert (
        d.parse(
            {
                "event": "stop",
                "sequenceNumber": "5",
                "streamSid": "MZ1",
                "stop": {"accountSid": "AC0", "callSid": "CA1"},
            }
        )
        == Stop()
    )
    assert d.media("MZ1", b"\xff") == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": "/w=="},
    }
    assert d.mark("MZ1", "m") == {"event": "mark", "streamSid": "MZ1", "mark": {"name": "m"}}
    assert d.clear("MZ1") == {"event": "clear", "streamSid": "MZ1"}


def test_plivo_messages() -> None:
    d = Plivo()
    start = d.parse(
        {
            "event": "start",
            "sequenceNumber": 1,
            "start": {
                "callId": "c-1",
                "streamId": "s-1",
                "accountId": "MA1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
            "extra_headers": "from=15550100200;to=15550100100",
        }
    )
    assert isinstance(start, Start)
    assert (start.call_id, start.stream_id, start.caller) == ("c-1", "s-1", "+15550100200")
    assert d.parse(
        {
            "event": "media",
            "sequenceNumber": 2,
            "streamId": "s-1",
            "media": {
                "track": "inbound",
                "timestamp": "1705312200000",
                "chunk": 1,
                "payload": PAYLOAD,
            },
        }
    ) == Media(bytes([0xFF]) * 160, 2, 1705312200000)
    assert d.parse({"event": "dtmf", "streamId": "s-1", "dtmf": {"digit": "#"}}) == Dtmf("#")
    assert d.parse({"event": "playedStream", "streamId": "s-1", "name": "turn-1"}) == Mark("turn-1")
    assert d.parse({"event": "clearedAudio", "streamId": "s-1", "sequenceNumber": 9}) == Cleared()
    assert d.media("s-1", b"\xff") == {
        "event": "playAudio",
        "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": "/w=="},
    }
    assert d.mark("s-1", "m") == {"event": "checkpoint", "streamId": "s-1", "name": "m"}
    assert d.clear("s-1") == {"event": "clearAudio", "streamId": "s-1"}
    assert parse_extra_headers("a=1,b=2") == {"a": "1", "b": "2"}


def test_telnyx_messages() -> None:
    d = Telnyx()
    assert d.parse({"event": "connected", "version": "1.0.0"}) == Connected()
    start = d.parse(
        {
            "event": "start",
            "sequence_number": "1",
            "stream_id": "st-1",
            "start": {
                "user_id": "u",
                "call_control_id": "v3:cc",
                "call_session_id": "cs",
                "from": "+15550100200",
                "to": "+15550100100",
                "client_state": None,
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
            },
        }
    )
    assert isinstance(start, Start)
    assert (start.call_id, start.stream_id, start.encoding) == ("v3:cc", "st-1", "PCMU")
    assert d.parse(
        {
            "event": "media",
            "sequence_number": "4",
            "stream_id": "st-1",
            "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": PAYLOAD},
        }
    ) == Media(bytes([0xFF]) * 160, 4, 5)
    assert d.parse({"event": "dtmf", "stream_id": "st-1", "dtmf": {"digit": "7"}}) == Dtmf("7")
    assert d.parse({"event": "mark", "stream_id": "st-1", "mark": {"name": "x"}}) == Mark("x")
    assert d.parse({"event": "stop", "stream_id": "st-1", "stop": {}}) == Stop()
    error = {
        "event": "error",
        "payload": {"code": 100002, "title": "Unknown error", "detail": "media format mismatch"},
    }
    assert d.parse(error) == CarrierError("media format mismatch")
    assert d.media("st-1", b"\xff") == {"event": "media", "media": {"payload": "/w=="}}
    assert d.mark("st-1", "m") == {"event": "mark", "mark": {"name": "m"}}
    assert d.clear("st-1") == {"event": "clear"}


@pytest.mark.parametrize(
    ("dialect", "message", "field"),
    [
        (Twilio(), {"event": "start", "start": {"streamSid": "MZ1"}}, "start.callSid"),
        (Twilio(), {"event": "media", "media": {"payload": "!!notbase64"}}, "media.payload"),
        (Twilio(), {"event": "warp"}, "event"),
        (Twilio(), {"media": {}}, "event"),
        (
            Twilio(),
            {
                **TWILIO_START,
                "start": {
                    **TWILIO_START["start"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "fast"},
                },
            },
            "start.mediaFormat.sampleRate",
        ),
        (Plivo(), {"event": "dtmf", "dtmf": {}}, "dtmf.digit"),
        (
            Telnyx(),
            {"event": "start", "stream_id": "s", "start": {"call_control_id": "c"}},
            "start.media_format.encoding",
        ),
    ],
)
def test_bad_messages_name_their_field(dialect: Any, message: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError, match=field.replace(".", r"\.")):
        dialect.parse(message)


def test_load_rejects_non_objects() -> None:
    with pytest.raises(ProtocolError, match="message: not JSON"):
        load("{nope")
    with pytest.raises(ProtocolError, match="message: not a JSON object"):
        load("[1]")


# -- signatures ---------------------------------------------------------------------------
URL = "https://gw.example.com/v1/twilio/default/front-desk/answer"
FORM = {"CallSid": "CA1", "From": "+15550100200", "To": "+15550100100"}


def test_twilio_signature_golden() -> None:
    # the vector: printf "$URL$sorted_params" | openssl dgst -sha1 -hmac 12345 -binary | base64
    sig = signatures.twilio_signature("12345", URL, FORM)
    assert sig == "MZGAf+UVsGgXz+ei0SZDkBfmwac="
    assert signatures.twilio_valid("12345", URL, dict(reversed(list(FORM.items()))), sig)
    assert not signatures.twilio_valid("12345", URL, {**FORM, "To": "+1"}, sig)
    assert not signatures.twilio_valid("54321", URL, FORM, sig)
    assert not signatures.twilio_valid("12345", URL, FORM, "")


def test_plivo_v3_signature() -> None:
    url = "https://gw.example.com/v1/plivo/default/front-desk/answer?b=2&a=1"
    sig = signatures.plivo_v3_signature("tok", url, FORM, "nonce-1")
    assert sig == "KxVSRk7DgJa+Km4iTmFyexJ1x9k0exy9PvmkPl5JbEk="
    assert signatures.plivo_v3_valid("tok", url, FORM, "nonce-1", f"other,{sig}")
    assert not signatures.plivo_v3_valid("tok", url, FORM, "nonce-2", sig)
    assert not signatures.plivo_v3_valid("tok", url, FORM, "", sig)


def test_telnyx_ed25519() -> None:
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    body, stamp = b"CallSid=v3%3A1", "1764646200"
    sig = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
    now = float(stamp) + 10
    assert signatures.telnyx_valid(public.decode(), body, sig, stamp, now=now)
    assert not signatures.telnyx_valid(public.decode(), body + b"x", sig, stamp, now=now)
    assert not signatures.telnyx_valid(public.decode(), body, sig, stamp, now=now + 3600)
    assert not signatures.telnyx_valid(public.decode(), body, "", stamp, now=now)
    assert not signatures.telnyx_valid("not-a-key", body, sig, stamp, now=now)


# -- tokens, answers, config -------------------------------------------------------------
def test_stream_tokens() -> None:
    key = b"k" * 32
    grant = tokens.new_grant("twilio", "default/front-desk", "CA1", now=1000)
    token = tokens.mint(key, grant)
    assert "/" not in token and "?" not in token
    assert tokens.verify(key, token, "twilio", "default/front-desk", now=1001) == grant
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(key, token, "twilio", "default/front-desk", now=2000)
    with pytest.raises(tokens.TokenError, match="another provider"):
        tokens.verify(key, token, "plivo", "default/front-desk", now=1001)
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify(b"x" * 32, token, "twilio", "default/front-desk", now=1001)
    with pytest.raises(tokens.TokenError, match="malformed"):
        tokens.verify(key, "garbage", "twilio", "default/front-desk", now=1001)


def test_answer_documents() -> None:
    twiml = ET.fromstring(answers.twiml_connect_stream("wss://gw/s/t", {"from": "+1"}))
    stream = twiml.find("Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://gw/s/t"
    assert [(p.get("name"), p.get("value")) for p in stream] == [("from", "+1")]
    plivo = ET.fromstring(answers.plivo_stream("wss://gw/s/t", {"from": "1555"}))
    stream = plivo.find("Stream")
    assert stream is not None and stream.text == "wss://gw/s/t"
    assert stream.get("bidirectional") == "true" and stream.get("keepCallAlive") == "true"
    assert stream.get("contentType") == "audio/x-mulaw;rate=8000"
    with pytest.raises(ValueError, match=r"extraHeaders\.from"):
        answers.plivo_stream("wss://gw/s/t", {"from": "+1555"})
    texml = ET.fromstring(answers.texml_connect_stream("wss://gw/s/t", {}))
    assert texml.find("Connect/Stream") is not None


def test_config_rejects_duplicate_routes_and_hashes_like_the_agent() -> None:
    route = {"namespace": "ns", "name": "a", "agentName": "x", "providers": {"twilio": {}}}
    base = {
        "livekitUrl": "ws://lk",
        "livekitApiKey": "k",
        "livekitApiSecret": "s",
        "publicUrl": "https://gw.example.com",
        "streamKey": "k",
        "hashKey": "test-key",
    }
    with pytest.raises(ValueError, match=r"routes\[1\]: duplicate VoiceAgent ns/a"):
        GatewayConfig.model_validate({**base, "routes": [route, route]})
    config = GatewayConfig.model_validate({**base, "routes": [route]})
    assert config.ws_base() == "wss://gw.example.com"
    assert config.hash("+15550100200", "ns").startswith("hmac-sha256:")
    # with the operator's root key: the same tag the worker of that namespace computes
    rooted = GatewayConfig.model_validate({**base, "routes": [route], "piiRootKey": "root"})
    ns_key = hmac.new(b"root", b"pii\x00ns", hashlib.sha256).hexdigest()
    digest = hmac.new(ns_key.encode(), b"+15550100200", hashlib.sha256).hexdigest()[:16]
    assert rooted.hash("+15550100200", "ns") == "hmac-sha256:" + digest
    assert "test-key" not in repr(config)
