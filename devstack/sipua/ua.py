"""The user agent: UAC (INVITE, digest auth, BYE) and UAS (answer) dialogs over UDP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from devstack.sipua.message import (
    SipMessage,
    digest_authorization,
    response_to,
    sdp_media,
    sdp_offer,
    tag_of,
    token,
    uri_of,
)
from devstack.sipua.rtp import RtpSession, bind_udp

T1, T2 = 0.5, 4.0  # RFC 3261 retransmission timers (UDP)


class CallRejected(Exception):
    """The INVITE got a final non-2xx response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    m = re.match(r"sips?:(?:[^@]+@)?([^:;>]+)(?::(\d+))?", uri)
    if not m:
        raise ValueError(f"not a SIP URI: {uri!r}")
    return m.group(1), int(m.group(2) or default_port)


@dataclass
class Call:
    """One dialog and its RTP session. Times are event-loop seconds (0: not happened)."""

    ua: SipUA
    call_id: str
    local: str  # our From/To value including our tag
    remote: str  # their From/To value (tag filled once known)
    peer: tuple[str, int]  # where in-dialog requests go (their Contact)
    rtp: RtpSession
    outgoing: bool
    invite: SipMessage | None = None  # the INVITE we received (UAS)
    cseq: int = 1
    invite_at: float = 0.0
    ringing_at: float = 0.0
    answered_at: float = 0.0
    ended_at: float = 0.0
    ended_by: str = ""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    refers: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def _request(self, method: str, extra: list[tuple[str, str]] | None = None) -> SipMessage:
        self.cseq += 1
        return SipMessage(
            method=method,
            uri=f"sip:{self.peer[0]}:{self.peer[1]}",
            headers=[
                *self.ua.via(),
                ("From", self.local),
                ("To", self.remote),
                ("Call-ID", self.call_id),
                ("CSeq", f"{self.cseq} {method}"),
                ("Max-Forwards", "70"),
                ("Contact", self.ua.contact),
                *(extra or []),
            ],
        )

    async def bye(self) -> int:
        """Hang up; the status of the BYE's response."""
        if self.ended.is_set():
            return 0
        self._end("local")
        resp = await self.ua.transact(self._request("BYE"), self.peer)
        return resp.status

    def _end(self, by: str) -> None:
        if not self.ended.is_set():
            self.ended_by, self.ended_at = by, asyncio.get_running_loop().time()
            self.ended.set()

    async def answer(self) -> None:
        """UAS: send 200 OK with our SDP (the INVITE already got 180)."""
        assert self.invite is not None
        ok = response_to(self.invite, 200, "OK", tag_of(self.local))
        ok.headers += [("Contact", self.ua.contact), ("Content-Type", "application/sdp")]
        ok.body = sdp_offer(self.ua.host, self.rtp.port, secrets.randbelow(2**31))
        self.answered_at = asyncio.get_running_loop().time()
        self.ua.send(ok, self.ua.source_of(self.invite))
        self.answered.set()

    def reject(self, status: int, reason: str) -> None:
        """UAS: a final non-2xx (486 Busy Here, 603 Decline) to the INVITE."""
        assert self.invite is not None
        resp = response_to(self.invite, status, reason, tag_of(self.local))
        self.ua.send(resp, self.ua.source_of(self.invite))
        self._end("local")

    async def close(self) -> None:
        await self.rtp.close()


@dataclass
class SipUA(asyncio.DatagramProtocol):
    """A UDP SIP endpoint on `host`; `incoming` yields calls to answer (they have rung)."""

    user: str = "switchboard"
    host: str = "127.0.0.1"
    port: int = 0
    refer_result: str = "200 OK"  # the sipfrag we NOTIFY after accepting a REFER
    calls: dict[str, Call] = field(default_factory=dict)
    incoming: asyncio.Queue[Call] = field(default_factory=asyncio.Queue)
    log: list[tuple[str, SipMessage]] = field(default_factory=list)  # ("in"|"out", message)
    _transport: asyncio.DatagramTransport | None = None
    _waiting: dict[str, asyncio.Queue[SipMessage]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> SipUA:
        self._transport, self.port = await bind_udp(self, self.host, self.port)
        return self

    async def close(self) -> None:
        for call in list(self.calls.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.bye(), 5)
            await call.close()
        if self._transport is not None:
            self._transport.close()

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    def via(self, branch: str | None = None) -> list[tuple[str, str]]:
        b = branch or "z9hG4bK" + token(8)
        return [("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch={b};rport")]

    def send(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        assert self._transport is not None, "start() the UA first"
        self.log.append(("out", msg))
        self._transport.sendto(msg.encode(), addr)

    def source_of(self, msg: SipMessage) -> tuple[str, int]:
        return msg.source or host_port(uri_of(msg.header("Contact")))

    async def transact(
        self,
        req: SipMessage,
        addr: tuple[str, int],
        on_provisional: Callable[[SipMessage], None] | None = None,
        timeout: float = 32,
    ) -> SipMessage:
        """Send `req` (retransmitting until any response) and return its final response."""
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._waiting[req.branch] = queue
        loop = asyncio.get_running_loop()
        deadline, interval, provisional = loop.time() + timeout, T1, False
        try:
            self.send(req, addr)
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"no final response to {req.method} after {timeout}s")
                wait = left if provisional else min(interval, left)
                try:
                    resp = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if provisional:
                        continue  # the deadline check above ends it
                    self.send(req, addr)  # UDP retransmission (Timer A/E)
                    interval = min(interval * 2, T2)
                    continue
                if resp.status >= 200:
                    return resp
                provisional = True
                if on_provisional is not None:
                    on_provisional(resp)
        finally:
            self._waiting.pop(req.branch, None)

    async def invite(
        self,
        target: str,
        *,
        caller: str = "switchboard",
        auth: tuple[str, str] | None = None,
        rtp: RtpSession | None = None,
        headers: list[tuple[str, str]] | None = None,
        timeout: float = 60,
    ) -> Call:
        """Call `target` (a sip: URI); returns once answered, raises CallRejected otherwise."""
        loop = asyncio.get_running_loop()
        rtp = rtp or await RtpSession(host=self.host).bind()
        peer = host_port(target)
        call = Call(
            self,
            "sb-" + token(10),
            f"<sip:{caller}@{self.host}>;tag={token(6)}",
            f"<{target}>",
            peer,
            rtp,
            outgoing=True,
        )
        self.calls[call.call_id] = call
        call.invite_at = loop.time()
        authz: list[tuple[str, str]] = []
        for _ in range(2):  # once plain, once with credentials after a challenge
            req = SipMessage(
                method="INVITE",
                uri=target,
                body=sdp_offer(self.host, rtp.port, secrets.randbelow(2**31)),
            )
            req.headers = [
                *self.via(),
                ("From", call.local),
                ("To", call.remote),
                ("Call-ID", call.call_id),
                ("CSeq", f"{call.cseq} INVITE"),
                ("Max-Forwards", "70"),
                ("Contact", self.contact),
                ("Content-Type", "application/sdp"),
                *authz,
                *(headers or []),
            ]

            def provisional(resp: SipMessage) -> None:
                if resp.status in (180, 183) and not call.ringing_at:
                    call.ringing_at = loop.time()

            resp = await self.transact(req, peer, provisional, timeout)
            if resp.status >= 300:
                self._ack_failure(req, resp, peer)
            challenge = resp.header("WWW-Authenticate") or resp.header("Proxy-Authenticate")
            if resp.status in (401, 407) and auth and challenge and not authz:
                name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
                authz = [(name, digest_authorization(challenge, "INVITE", target, *auth))]
                call.cseq += 1
                continue
            break
        if resp.status >= 300:
            del self.calls[call.call_id]
            await rtp.close()
            raise CallRejected(resp.status, resp.reason)
        call.remote = resp.header("To") or call.remote
        contact = uri_of(resp.header("Contact"))
        call.peer = host_port(contact) if contact else peer
        call.answered_at = loop.time()
        self._ack(call, resp)
        ip, port, _ = sdp_media(resp.body)
        rtp.start((ip, port))
        call.answered.set()
        return call

    def _ack(self, call: Call, ok: SipMessage) -> None:
        num, _ = ok.cseq
        ack = SipMessage(
            method="ACK",
            uri=f"sip:{call.peer[0]}:{call.peer[1]}",
            headers=[
                *self.via(),
                ("From", call.local),
                ("To", call.remote),
                ("Call-ID", call.call_id),
                ("CSeq", f"{num} ACK"),
                ("Max-Forwards", "70"),
            ],
        )
        self.send(ack, call.peer)

    def _ack_failure(self, req: SipMessage, resp: SipMessage, addr: tuple[str, int]) -> None:
        # the ACK of a non-2xx final response is part of the INVITE transaction (same branch)
        ack = SipMessage(
            method="ACK",
            uri=req.uri,
            headers=[
                *[
                    (n, v)
                    for n, v in req.headers
                    if n in ("Via", "From", "Call-ID", "Max-Forwards")
                ],
                ("To", resp.header("To") or ""),
                ("CSeq", f"{req.cseq[0]} ACK"),
            ],
        )
        self.send(ack, addr)

    # -- incoming ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # keep-alive
        try:
            msg = SipMessage.parse(data)
        except (ValueError, IndexError):
            return
        self.log.append(("in", msg))
        msg.source = addr
        if msg.status:
            self._on_response(msg)
        else:
            self._on_request(msg, addr)

    def _on_response(self, msg: SipMessage) -> None:
        queue = self._waiting.get(msg.branch)
        if queue is not None:
            queue.put_nowait(msg)
            return
        call = self.calls.get(msg.header("Call-ID") or "")
        if call is not None and msg.status == 200 and msg.cseq[1] == "INVITE":
            self._ack(call, msg)  # a retransmitted 200 OK: our ACK was lost

    def _on_request(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        call = self.calls.get(msg.header("Call-ID") or "")
        method = msg.method
        if method == "ACK":
            return
        if method == "INVITE" and call is None:
            self._new_incoming(msg, addr)
            return
        if call is None and method not in ("OPTIONS",):
            self.send(response_to(msg, 481, "Call/Transaction Does Not Exist"), addr)
            return
        local_tag = tag_of(call.local) if call else ""
        if method == "BYE" and call is not None:
            self.send(response_to(msg, 200, "OK", local_tag), addr)
            call._end("remote")
        elif method == "REFER" and call is not None:
            self.send(response_to(msg, 202, "Accepted", local_tag), addr)
            call.refers.put_nowait(uri_of(msg.header("Refer-To")))
            task = asyncio.get_running_loop().create_task(self._notify_refer(call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif method == "INVITE" and call and call.invite and msg.cseq == call.invite.cseq:
            # our INVITE retransmitted (a slow 180), not a re-INVITE: 200 OK would have no RTP
            self.send(response_to(msg, 180, "Ringing", local_tag), addr)
        elif method == "INVITE" and call is not None:  # re-INVITE: keep our media as it is
            ok = response_to(msg, 200, "OK", local_tag)
            ok.headers += [("Contact", self.contact), ("Content-Type", "application/sdp")]
            ok.body = sdp_offer(self.host, call.rtp.port, 1)
            self.send(ok, addr)
        elif method == "CANCEL" and call is not None and call.invite is not None:
            self.send(response_to(msg, 200, "OK", local_tag), addr)
            self.send(response_to(call.invite, 487, "Request Terminated", local_tag), addr)
            call._end("remote")
        else:  # OPTIONS, NOTIFY, INFO, UPDATE
            self.send(response_to(msg, 200, "OK", local_tag), addr)

    async def _notify_refer(self, call: Call) -> None:
        note = call._request(
            "NOTIFY",
            [
                ("Event", "refer"),
                ("Subscription-State", "terminated;reason=noresource"),
                ("Content-Type", "message/sipfrag;version=2.0"),
            ],
        )
        note.body = f"SIP/2.0 {self.refer_result}\r\n".encode()
        with contextlib.suppress(TimeoutError):
            await self.transact(note, call.peer, timeout=8)

    def _new_incoming(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        local = f"{msg.header('To')};tag={token(6)}"
        contact = uri_of(msg.header("Contact"))
        peer = host_port(contact) if contact else addr
        call = Call(
            self,
            msg.header("Call-ID") or "",
            local,
            msg.header("From") or "",
            peer,
            RtpSession(host=self.host),
            outgoing=False,
            invite=msg,
        )
        call.invite_at = loop.time()
        self.calls[call.call_id] = call
        self.send(response_to(msg, 100, "Trying"), addr)
        self.send(response_to(msg, 180, "Ringing", tag_of(local)), addr)
        call.ringing_at = loop.time()

        async def ready() -> None:
            await call.rtp.bind()
            if msg.body:
                ip, port, _ = sdp_media(msg.body)
                call.rtp.start((ip, port))
            self.incoming.put_nowait(call)

        task = loop.create_task(ready())
        self._tasks.add(task)  # a reference, so the task is not garbage-collected mid-way
        task.add_done_callback(self._tasks.discard)
