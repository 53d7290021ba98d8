"""Answer documents the carriers fetch: TwiML/TeXML <Connect><Stream>, Plivo <Stream>."""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree import ElementTree as ET


def _xml(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def twiml_connect_stream(url: str, parameters: Mapping[str, str]) -> str:
    """Twilio (and Telnyx TeXML): a bidirectional stream that owns the call until it ends.

    `<Connect>` rather than `<Start>`: only a connected stream may send audio back, and the
    call ends (there is no verb after it) when the stream's socket closes. Twilio drops query
    strings from the stream URL, so the token is in the path and the rest in <Parameter>s.
    """
    root = ET.Element("Response")
    stream = ET.SubElement(ET.SubElement(root, "Connect"), "Stream", {"url": url})
    for name, value in parameters.items():
        ET.SubElement(stream, "Parameter", {"name": name, "value": value})
    return _xml(root)


def texml_connect_stream(url: str, parameters: Mapping[str, str]) -> str:
    """Telnyx TeXML: as TwiML, plus RTP bidirectional mode with PCMU both ways."""
    root = ET.Element("Response")
    attrs = {
        "url": url,
        "bidirectionalMode": "rtp",
        "bidirectionalCodec": "PCMU",
        "codec": "PCMU",
    }
    stream = ET.SubElement(ET.SubElement(root, "Connect"), "Stream", attrs)
    for name, value in parameters.items():
        ET.SubElement(stream, "Parameter", {"name": name, "value": value})
    return _xml(root)


def plivo_stream(url: str, extra_headers: Mapping[str, str]) -> str:
    """Plivo/Vobiz: the URL is the element's text; keepCallAlive holds the call on the stream."""
    for key, value in extra_headers.items():
        if not (key.isalnum() and value.isalnum()):
            # Plivo rejects anything else in extraHeaders; the caller must strip it first
            raise ValueError(f"extraHeaders.{key}: only [A-Za-z0-9] allowed")
    root = ET.Element("Response")
    stream = ET.SubElement(
        root,
        "Stream",
        {
            "bidirectional": "true",
            "keepCallAlive": "true",
            "audioTrack": "inbound",
            "contentType": "audio/x-mulaw;rate=8000",
            "extraHeaders": ",".join(f"{k}={v}" for k, v in extra_headers.items()),
        },
    )
    stream.text = url
    return _xml(root)
