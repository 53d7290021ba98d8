"""SIP messages: parse and build, digest authentication (RFC 2617/7616 MD5) and the SDP we use."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "r": "Refer-To",
    "k": "Supported",
}
CANONICAL = {n.lower(): n for n in ("Call-ID", "CSeq", "WWW-Authenticate", "Refer-To")}


def canonical(name: str) -> str:
    name = COMPACT.get(name.strip(), name.strip())
    return CANONICAL.get(name.lower(), "-".join(p.capitalize() for p in name.split("-")))


def token(n: int = 8) -> str:
    return secrets.token_hex(n)


@dataclass
class SipMessage:
    """A request (`method` set) or a response (`status` set)."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source: tuple[str, int] | None = None  # where a received message came from

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        first = lines[0].split(" ", 2)
        msg = cls(body=body)
        if first[0].startswith("SIP/"):
            msg.status, msg.reason = int(first[1]), first[2] if len(first) > 2 else ""
        else:
            msg.method, msg.uri = first[0], first[1]
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and msg.headers:  # folded continuation line
                name, value = msg.headers[-1]
                msg.headers[-1] = (name, value + " " + line.strip())
            elif ":" in line:
                name, _, value = line.partition(":")
                msg.headers.append((canonical(name), value.strip()))
        length = msg.header("Content-Length")
        if length is not None and length.isdigit():
            msg.body = body[: int(length)]
        return msg

    def header(self, name: str) -> str | None:
        name = canonical(name)
        return next((v for n, v in self.headers if n == name), None)

    def all(self, name: str) -> list[str]:
        name = canonical(name)
        return [v for n, v in self.headers if n == name]

    def encode(self) -> bytes:
        if self.method:
            first = f"{self.method} {self.uri} SIP/2.0"
        else:
            first = f"SIP/2.0 {self.status} {self.reason}"
        lines = [first, *(f"{n}: {v}" for n, v in self.headers if n != "Content-Length")]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    @property
    def cseq(self) -> tuple[int, str]:
        num, _, method = (self.header("CSeq") or "0 ").partition(" ")
        return int(num), method.strip()

    @property
    def branch(self) -> str:
        via = self.header("Via") or ""
        m = re.search(r"branch=([^;\s,]+)", via)
        return m.group(1) if m else ""


def tag_of(value: str | None) -> str:
    m = re.search(r";\s*tag=([^;\s>]+)", value or "")
    return m.group(1) if m else ""


def uri_of(value: str | None) -> str:
    """The URI inside a From/To/Contact/Refer-To value (`<sip:...>` or bare)."""
    value = value or ""
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";", 1)[0].strip()


def response_to(req: SipMessage, status: int, reason: str, to_tag: str = "") -> SipMessage:
    """A response copying Via/From/To/Call-ID/CSeq from `req` (adding our To tag)."""
    headers = [(n, v) for n, v in req.headers if n in ("Via", "From", "To", "Call-ID", "CSeq")]
    if to_tag:
        headers = [(n, v if n != "To" or tag_of(v) else f"{v};tag={to_tag}") for n, v in headers]
    return SipMessage(status=status, reason=reason, headers=headers)


def _params(challenge: str) -> dict[str, str]:
    return {
        k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', challenge)
    }


def digest_authorization(
    challenge: str, method: str, uri: str, username: str, password: str
) -> str:
    """The Authorization value answering a `Digest` WWW-/Proxy-Authenticate challenge."""
    p = _params(challenge.partition(" ")[2])
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    algorithm = p.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", ""):
        raise ValueError(f"unsupported digest algorithm {algorithm}")

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1, ha2 = md5(f"{username}:{realm}:{password}"), md5(f"{method}:{uri}")
    fields = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    qop = p.get("qop", "")
    if "auth" in [q.strip() for q in qop.split(",")]:
        cnonce, nc = token(8), "00000001"
        resp = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields.update(qop="auth", nc=nc, cnonce=cnonce)
    else:
        resp = md5(f"{ha1}:{nonce}:{ha2}")
    fields["response"] = resp
    if "opaque" in p:
        fields["opaque"] = p["opaque"]
    fields["algorithm"] = "MD5"
    unquoted = {"qop", "nc", "algorithm"}
    return "Digest " + ", ".join(
        f"{k}={v}" if k in unquoted else f'{k}="{v}"' for k, v in fields.items()
    )


def sdp_offer(ip: str, port: int, session: int) -> bytes:
    """Audio only, PCMU/8000 (what livekit-sip answers with) and telephone-event."""
    return (
        f"v=0\r\no=switchboard {session} {session} IN IP4 {ip}\r\ns=switchboard\r\n"
        f"c=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        "a=ptime:20\r\na=sendrecv\r\n"
    ).encode()


def sdp_media(body: bytes) -> tuple[str, int, list[int]]:
    """(connection address, audio port, payload types) of an SDP body."""
    ip, port, pts = "", 0, []
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=IN IP4 "):
            ip = line.split()[2]
        elif line.startswith("m=audio "):
            parts = line.split()
            port, pts = int(parts[1]), [int(p) for p in parts[3:] if p.isdigit()]
    if not ip or not port:
        raise ValueError("SDP without an IPv4 audio stream")
    return ip, port, pts
