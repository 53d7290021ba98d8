"""A delay relay for bench channels: UDP (RTP, latching both ends) and TCP, each way delayed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from typing import cast

READ_BYTES = 65536


class DelayLine:
    """Runs callbacks `delay` after they were queued, in queue order (one direction)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._queue: asyncio.Queue[tuple[float, Callable[[], None]]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, action: Callable[[], None]) -> None:
        self._queue.put_nowait((time.monotonic() + self.delay, action))

    async def _run(self) -> None:
        while True:
            due, action = await self._queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            action()

    def close(self) -> None:
        self._task.cancel()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_packet = on_packet
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_packet(data, addr)


async def udp_pair(host: str, port_a: int, port_b: int, delay: float) -> None:
    """Packets into A go out of B to whoever last sent to B, and the other way round."""
    peers: dict[str, tuple[str, int] | None] = {"a": None, "b": None}
    lines = {"a": DelayLine(delay), "b": DelayLine(delay)}
    loop = asyncio.get_running_loop()
    sides: dict[str, _Udp] = {}

    def forward(into: str, out: str) -> Callable[[bytes, tuple[str, int]], None]:
        def on_packet(data: bytes, addr: tuple[str, int]) -> None:
            peers[into] = addr  # symmetric RTP: latch onto the sender

            def send() -> None:
                target, transport = peers[out], sides[out].transport
                if target is not None and transport is not None:
                    transport.sendto(data, target)

            lines[into].put(send)

        return on_packet

    for side, port, other in (("a", port_a, "b"), ("b", port_b, "a")):
        proto = _Udp(forward(side, other))
        await loop.create_datagram_endpoint(lambda p=proto: p, local_addr=(host, port))
        sides[side] = proto


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    line = DelayLine(delay)
    done = asyncio.Event()
    try:
        while data := await reader.read(READ_BYTES):
            line.put(lambda d=data: writer.write(d))
        line.put(done.set)
        await done.wait()
        with contextlib.suppress(OSError):
            writer.write_eof()
    finally:
        line.close()


async def tcp(host: str, port: int, target: tuple[str, int], delay: float) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay))
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    await asyncio.start_server(serve, host, port)


async def main_async(args: argparse.Namespace) -> None:
    delay = args.delay_ms / 1000
    host, a, b = args.udp.split(":")
    await udp_pair(host, int(a), int(b), delay)
    listen_host, listen_port, target_host, target_port = args.tcp.split(":")
    await tcp(listen_host, int(listen_port), (target_host, int(target_port)), delay)
    print("ready", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.netrelay")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--udp", required=True, help="HOST:PORT_A:PORT_B")
    parser.add_argument("--tcp", required=True, help="HOST:PORT:TARGET_HOST:TARGET_PORT")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
