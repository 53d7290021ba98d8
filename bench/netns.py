"""A network namespace for bench channels: a veth to it, random loss, and the delay relay."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from devstack.tools import REPO


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@dataclass
class NetNamespace:
    """`sbch-<pid>` with a /30 to the root namespace; removed (with its veth) by `remove`."""

    name: str = field(default_factory=lambda: f"sbch-{os.getpid()}")
    subnet: int = field(default_factory=lambda: os.getpid() % 250)
    relay: subprocess.Popen[bytes] | None = None

    @property
    def root_ip(self) -> str:
        return f"10.203.{self.subnet}.1"

    @property
    def ns_ip(self) -> str:
        return f"10.203.{self.subnet}.2"

    @property
    def _veth(self) -> tuple[str, str]:
        tag = f"sbc{os.getpid() % 100000}"
        return f"{tag}r", f"{tag}n"

    def create(self) -> NetNamespace:
        root, inner = self._veth
        _run("ip", "netns", "add", self.name)
        try:
            _run("ip", "link", "add", root, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", self.name)
            _run("ip", "addr", "add", f"{self.root_ip}/30", "dev", root)
            _run("ip", "link", "set", root, "up")
            self.exec("ip", "addr", "add", f"{self.ns_ip}/30", "dev", inner)
            self.exec("ip", "link", "set", inner, "up")
            self.exec("ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.remove()
            raise
        return self

    def exec(self, *argv: str) -> None:
        _run("ip", "netns", "exec", self.name, *argv)

    def set_loss(self, probability: float) -> None:
        """Drop packets entering the namespace at random: both directions of both paths."""
        self.exec("iptables", "-F", "INPUT")
        if probability > 0:
            self.exec(
                "iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
                "--probability", f"{probability}", "-j", "DROP",
            )  # fmt: skip

    def start_relay(self, delay_ms: float, udp: tuple[int, int], tcp: tuple[int, str, int]) -> None:
        self.stop_relay()
        argv = [
            "ip", "netns", "exec", self.name, sys.executable, "-m", "bench.netrelay",
            f"--delay-ms={delay_ms}", f"--udp={self.ns_ip}:{udp[0]}:{udp[1]}",
            f"--tcp={self.ns_ip}:{tcp[0]}:{tcp[1]}:{tcp[2]}",
        ]  # fmt: skip
        self.relay = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE)
        assert self.relay.stdout is not None
        if self.relay.stdout.readline().strip() != b"ready":
            raise RuntimeError("the delay relay did not start")

    def stop_relay(self) -> None:
        if self.relay is not None:
            self.relay.terminate()
            try:
                self.relay.wait(5)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
            self.relay = None

    def remove(self) -> None:
        """The relay, the namespace and its veth (deleting one end deletes the pair)."""
        self.stop_relay()
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", self._veth[0]], check=False, capture_output=True)
