"""What `make up` prints once the stack is Ready: what runs, where the logs are, what to try."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.runstate import RunState
from devstack.tools import REPO


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
        f"Switchboard is up: Ready in {info.get('ready_seconds', '?')}s, "
        f"peak RSS of the whole stack {info.get('peak_rss_mib', '?')} MiB."
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
    numbers = ", ".join(info.get("numbers", [])) or "the trunk's number"
    print("\nTest call:")
    print("  SIP dial-in needs livekit-sip, which the SIP-call issue adds to `make up`; then a")
    print(f"  SIP UA on 127.0.0.1 dials {numbers} and the front-desk agent answers.")
    if lk and info.get("agents"):
        name = next(iter(info["agents"].values()))["agent_name"]
        print("  Until then, talk to the agent over WebRTC with the LiveKit CLI (lk):")
        print(
            f"    lk dispatch create --url {lk['url'].replace('ws://', 'http://')} "
            f"--api-key {lk['api_key']} --api-secret <secret> --room test-call "
            f"--agent-name {name}"
        )
        print("    and join room test-call from any LiveKit client (same URL and key).")
    print("\nStop everything: make down")
