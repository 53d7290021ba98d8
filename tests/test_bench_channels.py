"""Unit tests of bench channels' pieces: RFC 3550 jitter, and the delay relay on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.channels_bench import jitter_ms
from bench.netrelay import tcp, udp_pair
from devstack.procs import free_port

pytestmark = pytest.mark.unit


def test_jitter_counts_spacing_not_loss() -> None:
    even = [(i * 0.02, i) for i in range(50)]
    assert jitter_ms(even) == pytest.approx(0.0, abs=1e-9)
    lost = [p for p in even if p[1] != 10]  # a lost packet is a sequence gap, not jitter
    assert jitter_ms(lost) == pytest.approx(0.0, abs=1e-9)
    late = [(a + (0.01 if s == 20 else 0.0), s) for a, s in even]
    assert 0.1 < jitter_ms(late) < 10.0  # RFC 3550: one 10 ms deviation, decaying by 1/16
    spurts = even[:10] + [(a + 2.0, s + 100) for a, s in even[10:]]  # talk-spurt gap skipped
    assert jitter_ms(spurts) == pytest.approx(0.0, abs=1e-9)


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.put_nowait((data, time.monotonic()))


async def test_relay_delays_udp_both_ways_and_tcp_in_order() -> None:
    loop = asyncio.get_running_loop()
    a, b = free_port(kind=2), free_port(kind=2)
    await udp_pair("127.0.0.1", a, b, 0.04)
    server, caller = _Echo(), _Echo()
    await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    await loop.create_datagram_endpoint(lambda: caller, local_addr=("127.0.0.1", 0))
    assert server.transport is not None and caller.transport is not None
    server.transport.sendto(b"latch", ("127.0.0.1", a))  # the server side speaks first
    await asyncio.sleep(0.1)
    sent = time.monotonic()
    caller.transport.sendto(b"up", ("127.0.0.1", b))
    data, at = await asyncio.wait_for(server.got.get(), 2)
    assert data == b"up" and 0.035 < at - sent < 0.2
    server.transport.sendto(b"down", ("127.0.0.1", a))
    data, _ = await asyncio.wait_for(caller.got.get(), 2)
    assert data == b"down"

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(6))
        await writer.drain()
        writer.close()

    target = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = free_port()
    await tcp("127.0.0.1", port, target.sockets[0].getsockname()[:2], 0.04)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = time.monotonic()
    for part in (b"ab", b"cd", b"ef"):
        writer.write(part)
    assert await asyncio.wait_for(reader.readexactly(6), 2) == b"abcdef"
    assert time.monotonic() - sent > 0.075  # 40 ms each way
    writer.close()
    target.close()
