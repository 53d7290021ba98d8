"""Host state the real node touches (mounts, links, iptables chains), to find and remove it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

from devstack import tools
from devstack.procs import StartupError, poll

# Chains that kubelet, kube-proxy and the CNI plugins create; only ones absent before `up`
# are removed.
CHAIN_PREFIXES = ("KUBE-", "CNI-", "SBNODE-")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def set_ip_forward(value: str) -> None:
    if ip_forward() != value:
        IP_FORWARD.write_text(f"{value}\n")


def isolate_bridge(bridge: str) -> None:
    """Drop anything the host would forward from `bridge` elsewhere (even with ip_forward=1)."""
    chain = "SBNODE-ISOLATE"
    if subprocess.run(["iptables", "-N", chain], capture_output=True, check=False).returncode:
        subprocess.run(["iptables", "-F", chain], capture_output=True, check=False)
    subprocess.run(
        ["iptables", "-A", chain, "-i", bridge, "!", "-o", bridge, "-j", "DROP"], check=True
    )
    subprocess.run(["iptables", "-I", "FORWARD", "1", "-j", chain], check=True)


TABLES = ("filter", "nat", "mangle", "raw")


# containerd 2.x keeps shim sockets (and ctr its fifos) here whatever its state dir is;
# they go when the shims exit, the empty directories are removed by `down`.
SHIM_DIRS = (Path("/run/containerd/s"), Path("/run/containerd/fifo"), Path("/run/containerd"))


# Paths kubelet, containerd's CNI library and buildah use whatever they are configured with.
FIXED_DIRS = (
    Path("/var/log/containers"),
    Path("/var/lib/kubelet/device-plugins"),
    Path("/var/lib/kubelet"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
    Path("/etc/cni/net.d"),
    Path("/etc/cni"),
)


def remove_empty_shim_dirs() -> None:
    for path in SHIM_DIRS:
        with contextlib.suppress(OSError):
            path.rmdir()


def remove_fixed_residue(node_dir: Path) -> None:
    """After the node stopped: kubelet's log links into `node_dir` and its device-plugin
    socket, then those fixed directories if empty (never anything else in them)."""
    logs = Path("/var/log/containers")
    if logs.is_dir():
        for link in logs.iterdir():
            if link.is_symlink() and str(link.readlink()).startswith(f"{node_dir}/"):
                link.unlink()
    Path("/var/lib/kubelet/device-plugins/kubelet.sock").unlink(missing_ok=True)
    for path in FIXED_DIRS:
        with contextlib.suppress(OSError):
            path.rmdir()


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first (the order to unmount them)."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all(path: Path) -> list[str]:
    """Unmount everything below `path` (lazily if busy); return what is still mounted."""
    for _ in range(3):
        points = mounts_under(path)
        if not points:
            return []
        for point in points:
            done = subprocess.run(["umount", point], capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    return mounts_under(path)


def links_of(bridge: str) -> list[str]:
    """The bridge and every link enslaved to it (the host ends of pod veths)."""
    out = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, check=False
    ).stdout
    names = []
    for link in json.loads(out or "[]"):
        if link.get("ifname") == bridge or link.get("master") == bridge:
            names.append(str(link["ifname"]))
    return names


def ensure_bridge(bridge: str, address: str) -> None:
    """Create `bridge` with `address` (the pods' gateway and the node's IP), up."""
    if bridge not in links_of(bridge):
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "replace", address, "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)


def delete_links(bridge: str) -> list[str]:
    for name in links_of(bridge):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    return links_of(bridge)


def _save(cmd: str) -> str:
    try:
        return subprocess.run(
            [f"{cmd}-save"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except FileNotFoundError:
        return ""


def chains(cmd: str = "iptables") -> set[str]:
    """`table/chain` for every chain with one of CHAIN_PREFIXES."""
    found: set[str] = set()
    table = ""
    for line in _save(cmd).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
            found.add(f"{table}/{line[1:].split()[0]}")
    return found


def all_chains() -> dict[str, list[str]]:
    return {cmd: sorted(chains(cmd)) for cmd in ("iptables", "ip6tables")}


def remove_chains(keep: dict[str, list[str]]) -> dict[str, list[str]]:
    """Remove our chains (and the rules jumping to them) not in `keep`; return what is left."""
    for cmd in ("iptables", "ip6tables"):
        ours = chains(cmd) - set(keep.get(cmd, []))
        if not ours:
            continue
        table = ""
        for line in _save(cmd).splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-A "):
                parts = line.split()
                target = parts[parts.index("-j") + 1] if "-j" in parts else ""
                if f"{table}/{target}" in ours and f"{table}/{parts[1]}" not in ours:
                    rule = ["-D", *parts[1:]]
                    subprocess.run([cmd, "-t", table, *rule], capture_output=True, check=False)
        for tc in sorted(ours):
            table, chain = tc.split("/", 1)
            subprocess.run([cmd, "-t", table, "-F", chain], capture_output=True, check=False)
        for tc in sorted(ours):
            table, chain = tc.split("/", 1)
            subprocess.run([cmd, "-t", table, "-X", chain], capture_output=True, check=False)
    now = all_chains()
    return {cmd: sorted(set(now[cmd]) - set(keep.get(cmd, []))) for cmd in now}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pids_mentioning(marker: str) -> list[int]:
    """Processes whose command line contains `marker` (e.g. the containerd socket path)."""
    me = os.getpid()
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and int(e.name) != me and marker in cmdline(int(e.name))
    ]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def is_clean(left: dict[str, object]) -> bool:
    """True when `Node.leftovers()` found nothing (chains is a dict of per-tool lists)."""
    chains = left.get("chains")
    return not any(v for k, v in left.items() if k != "chains") and not (
        isinstance(chains, dict) and any(chains.values())
    )


def proc_status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"


def stop_pid(pid: int | None, *, timeout: float) -> None:
    """SIGTERM `pid`'s process group, SIGKILL after `timeout`."""
    if pid is None or not Path(f"/proc/{pid}").exists():
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)

    def gone() -> bool:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return not Path(f"/proc/{pid}").exists() or "zombie" in proc_status(pid)

    try:
        poll(gone, timeout, f"pid {pid} to exit", 0.1, StartupError)
    except StartupError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        poll(gone, 10, f"pid {pid} to exit after SIGKILL", 0.1, StartupError)


def containerd_bin(name: str = "containerd") -> Path:
    return tools.containerd(name)


def cni_bin_dir() -> Path:
    return tools.cache_dir() / f"cni-plugins-{tools.versions()['CNI_PLUGINS_VERSION']}" / "bin"


def required_binaries() -> dict[str, Path]:
    return {
        "containerd": containerd_bin(),
        "containerd-shim-runc-v2": containerd_bin("containerd-shim-runc-v2"),
        "ctr": containerd_bin("ctr"),
        "runc": Path("/usr/sbin/runc"),
        "iptables": Path("/usr/sbin/iptables"),
        "bridge": cni_bin_dir() / "bridge",
        "host-local": cni_bin_dir() / "host-local",
        "loopback": cni_bin_dir() / "loopback",
        "kubelet": tools.kube_binary("kubelet"),
        "kube-proxy": tools.kube_binary("kube-proxy"),
        "umoci": Path("/usr/bin/umoci"),
        "mmdebstrap": Path("/usr/bin/mmdebstrap"),
    }


def missing_binaries() -> list[str]:
    return [
        f"{what} ({path})"
        for what, path in required_binaries().items()
        if not (path.is_file() and os.access(path, os.X_OK))
    ]


def unsupported() -> str | None:
    """Why this machine cannot run the node (None when it can): root and cgroups needed."""
    if os.geteuid() != 0:
        return "the real node needs root (containerd, runc, netns, bridge, iptables)"
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    ):
        return "no usable cgroup hierarchy at /sys/fs/cgroup"
    return None
