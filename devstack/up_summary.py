"""What `make up` prints: timed progress while it starts, then what runs, logs, what to try."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import cluster as devcluster
from devstack import kube
from devstack.procs import rss_kib
from devstack.runstate import RunState, pss_kib
from devstack.tools import REPO

EXAMPLES_NS = "default"  # where `make up` applies examples/


def _rel(path: str | Path) -> str:
    """A path relative to the repository or ~ when shorter (for copy-paste)."""
    p = Path(path)
    for base, label in ((REPO, "."), (Path.home(), "~")):
        if p.is_relative_to(base):
            return f"{label}/{p.relative_to(base)}"
    return str(p)


def print_summary(state: RunState) -> None:
    info = state.info
    lk = info.get("livekit", {})
    kubeconfig = _rel(state.kubeconfig) if state.kubeconfig else os.environ.get("KUBECONFIG", "")
    print()
    print(
        f"Switchboard is up: Ready in {info.get('ready_seconds', '?')}s. Memory of the whole "
        f"stack: peak RSS {info.get('peak_rss_mib', '?')} MiB (summed; PSS at Ready, shared "
        f"pages once: {info.get('pss_mib', '?')} MiB)."
    )
    print("\nRunning:")
    if state.mode == "local":
        print(
            f"  {'control plane':26} kwok cluster {state.cluster_name} (etcd, kube-apiserver, "
            "controller-manager, scheduler, kwok fake node)"
        )
    for comp in state.components:
        print(f"  {comp.name:26} pid {comp.pid:<7} {comp.url}")
    if lk:
        print(f"  {'':26} LiveKit API key {lk['api_key']} (secret: {_rel(state.path)}, livekit)")
    if ident := info.get("operator_identity"):
        print(f"  {'':26} the operator runs as {ident} (the chart's RBAC)")
    if metrics := info.get("metrics_url"):
        print(f"  {'':26} operator metrics {metrics}")
    for va, agent in info.get("agents", {}).items():
        print(
            f"  {'':26} VoiceAgent {va}: LiveKit agent name {agent['agent_name']}, "
            f"metrics {agent['metrics']}"
        )
    print("\nLogs:")
    for comp in state.components:
        print(f"  {comp.name:26} {_rel(comp.log)}")
    if state.mode == "local":
        logs = Path(state.cluster_workdir) / "clusters" / state.cluster_name / "logs"
        print(f"  {'control plane':26} {_rel(logs)}/")
    print("\nTry:")
    print(f"  export KUBECONFIG={kubeconfig}")
    print("  .venv/bin/kubectl get switchboard -A          # SipTrunks and VoiceAgents, Ready")
    print("  .venv/bin/kubectl describe voiceagent front-desk")
    print("  .venv/bin/python -m devstack.up status         # processes and memory")
    numbers = info.get("numbers", [])
    if sip := info.get("sip"):
        print("\nTest call (caller -> livekit-sip -> dispatch rule -> the front-desk worker):")
        for number in numbers:
            print(f"  SIP URI  sip:{number}@{sip['host']}:{sip['port']}  (UDP or TCP; PCMU)")
        print("  make call                       # a SIP UA asks a question, records the answer")
        print('  make call QUESTION="Goodbye."   # or NUMBER=..., RECORD=path.wav')
        print("  Any SIP softphone on this machine can dial the URI too (from 127.0.0.1).")
    if sbc := info.get("sbc"):
        print("\nSIP over WebSocket (JsSIP/SIP.js -> kamailio -> livekit-sip -> the agent):")
        print(f"  WebSocket  {sbc['ws']}   register as sip:<anyone>@{sbc['domain']}")
        for number in numbers:
            print(f"  call       sip:{number}@{sbc['domain']}")
    if demos := info.get("gateway", {}).get("demos"):
        print("\nBrowser call (click-to-call widget -> LiveKit WebRTC -> the agent's worker):")
        for va, url in demos.items():
            print(f"  {va:26} open {url} in a browser on this machine and click Call")
        base = info["gateway"]["url"]
        tag = f'<script src="{base}/widget.js" data-voiceagent="{EXAMPLES_NS}/NAME"></script>'
        print(f"  embed:  {tag}")
    print("\nStop everything: make down")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Progress:
    """Timestamped progress lines, and a sampler of the whole stack's summed RSS."""

    started: float = field(default_factory=time.monotonic)
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def say(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {msg}", flush=True)

    def wait(self, check: Callable[[], Any], what: str, timeout: float) -> Any:
        self.say(f"... {what}")
        result = kube.poll(check, timeout, what)
        self.say(f"ok  {what}")
        return result

    def sample(self, total: Callable[[], int]) -> None:
        def loop() -> None:
            while not self._stop.wait(0.5):
                self.peak_kib = max(self.peak_kib, total())

        threading.Thread(target=loop, name="rss-sampler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def print_status(state: RunState) -> int:
    """Each process (and the control plane's) with RSS and PSS; 0 if all still run."""
    rows: list[tuple[str, str, str, int, int, str]] = []
    for comp in state.components:
        live = "running" if comp.alive() else "EXITED"
        rows.append((comp.name, live, str(comp.pid), comp.rss_kib(), comp.pss_kib(), comp.url))
    if state.mode == "local":
        cluster = devcluster.Cluster(state.cluster_name, Path(state.cluster_workdir))
        for name, pid in sorted(cluster.pid_files().items()):
            rss, pss = rss_kib(pid), pss_kib(pid)
            rows.append((f"cluster/{name}", "running" if rss else "EXITED", str(pid), rss, pss, ""))
    print(f"{'component':32} {'state':8} {'pid':>8} {'RSS MiB':>8} {'PSS MiB':>8}")
    for name, live, pid_s, rss, pss, url in rows:
        print(f"{name:32} {live:8} {pid_s:>8} {rss / 1024:8.0f} {pss / 1024:8.0f}  {url}")
    rss_total, pss_total = sum(r[3] for r in rows), sum(r[4] for r in rows)
    label = "total (PSS counts shared pages once)"
    print(f"{label:50} {rss_total / 1024:8.0f} {pss_total / 1024:8.0f}")
    return 0 if all(c.alive() for c in state.components) else 1
