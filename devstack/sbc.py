"""The SIP-over-WebSocket SBC on this machine: the chart's own Kamailio config and commands.

`helm template` renders the chart with sbc.enabled and local ports; the ConfigMap's
kamailio.cfg and the Deployment's two container commands (kamailio, rtpengine) then run as
processes with Debian's binaries, POD_IP set to the loopback address. So the tests and
`make up --sipws` exercise exactly what a cluster would run, not a second copy of it.
"""

from __future__ import annotations

import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import kube
from devstack.procs import (
    Process,
    StartupError,
    free_port,
    free_udp_range,
    port_free,
    port_open,
)
from devstack.runstate import RunState
from devstack.up_summary import Progress

RELEASE, NAMESPACE = "switchboard", "switchboard"
PREFERRED_WS_PORT = 5066  # `make up --sipws`: ws://127.0.0.1:5066 unless taken
RTP_PORTS = 100  # rtpengine's media ports: two per call (the browser leg, the livekit-sip leg)


def _binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if found is None:
        raise FileNotFoundError(f"{name} not installed (make tools: apt-get install {name})")
    return found


def _named(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return doc


@dataclass
class Sbc:
    """Kamailio + rtpengine in front of livekit-sip at `livekit_sip` (host:port)."""

    workdir: Path
    livekit_sip: str
    host: str = "127.0.0.1"
    domain: str = "switchboard.local"
    ws_port: int = 0
    sip_port: int = 0
    ng_port: int = 0
    rtp_range: tuple[int, int] = (0, 0)
    procs: list[Process] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    def render(self) -> tuple[str, list[dict[str, Any]]]:
        """The chart's kamailio.cfg and containers for these ports."""
        docs = kube.render_chart(
            RELEASE,
            NAMESPACE,
            "livekit.url=ws://unused",
            "livekit.apiKey=unused",
            "livekit.apiSecret=unused",
            "sbc.enabled=true",
            f"sbc.livekitSip={self.livekit_sip}",
            f"sbc.domain={self.domain}",
            f"sbc.wsPort={self.ws_port}",
            f"sbc.sipPort={self.sip_port}",
            f"sbc.rtpengine.ngPort={self.ng_port}",
            f"sbc.rtpengine.portMin={self.rtp_range[0]}",
            f"sbc.rtpengine.portMax={self.rtp_range[1]}",
        )
        config = _named(docs, "ConfigMap", "-sbc")["data"]["kamailio.cfg"]
        pod = _named(docs, "Deployment", "-sbc")["spec"]["template"]["spec"]
        return config, pod["containers"]

    def _argv(self, container: dict[str, Any]) -> list[str]:
        """A container's command on this machine: its paths moved into the workdir."""
        moves = {
            "$(POD_IP)": self.host,
            "/etc/kamailio/": f"{self.workdir}/",
            "/tmp": f"{self.workdir}",
        }
        pattern = re.compile("|".join(map(re.escape, moves)))  # one pass: no move moves twice
        out = [
            pattern.sub(lambda m: moves[m.group(0)], raw)
            for raw in [*container["command"], *container["args"]]
        ]
        out[0] = _binary(out[0])
        return out

    def start(self, timeout: float = 20) -> Sbc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ws_port = self.ws_port or free_port(self.host)
        self.sip_port = self.sip_port or free_port(self.host, socket.SOCK_DGRAM)
        self.ng_port = self.ng_port or free_port(self.host, socket.SOCK_DGRAM)
        if self.rtp_range == (0, 0):
            self.rtp_range = free_udp_range(RTP_PORTS, self.host)
        config, containers = self.render()
        (self.workdir / "kamailio.cfg").write_text(config)
        env = {"POD_IP": self.host}
        for container in reversed(containers):  # rtpengine first: kamailio connects to it
            name = container["name"]
            proc = Process(name, self._argv(container), self.workdir / f"{name}.log", env=env)
            self.procs.append(proc.start())
        try:
            self.procs[-1].wait_ready(lambda: port_open(self.ws_port, self.host), timeout)
        except StartupError:
            self.stop()
            raise
        return self

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def start_local(state: RunState, progress: Progress, run_dir: Path, fixed_ports: bool) -> Sbc:
    """`make up --sipws`: the SBC in front of `make up`'s livekit-sip, ports in the state."""
    sip = state.info["sip"]
    ws_port = PREFERRED_WS_PORT if fixed_ports and port_free(PREFERRED_WS_PORT) else 0
    progress.say("SIP over WebSocket: kamailio + rtpengine from the chart's sbc config")
    sbc = Sbc(run_dir / "sbc", f"{sip['host']}:{sip['port']}", ws_port=ws_port).start()
    for proc in sbc.procs:
        assert proc.proc is not None
        state.add(f"sbc/{proc.name}", proc.proc.pid, proc.log_path, sbc.ws_url)
    state.info["sbc"] = {"ws": sbc.ws_url, "domain": sbc.domain, "rtp": list(sbc.rtp_range)}
    state.save()
    progress.say(
        f"ok  SBC: {sbc.ws_url} (domain {sbc.domain}), RTP {sbc.rtp_range[0]}-{sbc.rtp_range[1]}"
    )
    return sbc
