"""A real node on the local control plane: containerd, kubelet and kube-proxy, torn down clean."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack import images, node_config, node_host, tools
from devstack.cluster import Cluster
from devstack.procs import free_port, poll, port_open

DEFAULT_NODE = "switchboard-node"


class NodeError(RuntimeError):
    """The node could not be started or stopped cleanly."""


@dataclass
class Node:
    """One real node registered with `cluster`; `bridge` and `subnet` keep nodes apart."""

    cluster: Cluster
    name: str = DEFAULT_NODE
    bridge: str = node_config.BRIDGE
    subnet: str = node_config.SUBNET
    proxy: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.cluster.workdir / "nodes" / self.name

    @property
    def ip(self) -> str:
        """The bridge's address: the pods' gateway, the node's InternalIP, kubelet's bind."""
        return node_config.gateway(self.subnet)

    @property
    def socket(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def state_path(self) -> Path:
        return self.dir / "node.json"

    def _state(self) -> dict[str, object]:
        try:
            loaded: dict[str, object] = json.loads(self.state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return loaded

    def _save(self, **update: object) -> None:
        self.state_path.write_text(json.dumps({**self._state(), **update}, indent=2) + "\n")

    def _start(self, what: str, argv: list[str]) -> int:
        log = self.dir / "logs" / f"{what}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tools.REPO
            )
        pids = dict(self._pids())
        pids[what] = proc.pid
        self._save(pids=pids)
        return proc.pid

    def _pids(self) -> dict[str, int]:
        raw = self._state().get("pids", {})
        return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def _alive(self, what: str) -> bool:
        pid = self._pids().get(what)
        if pid is None:
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return Path(f"/proc/{pid}").exists() and "zombie" not in node_host.proc_status(pid)

    def _log_tail(self, what: str, lines: int = 25) -> str:
        try:
            text = (self.dir / "logs" / f"{what}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait(self, what: str, check: object, timeout: float) -> None:
        def ready() -> bool:
            if not self._alive(what):
                raise NodeError(f"{what} exited early:\n{self._log_tail(what)}")
            return bool(check() if callable(check) else check)

        t0 = time.monotonic()
        try:
            poll(ready, timeout, what, 0.2, NodeError)
        except NodeError as exc:
            if "exited early" in str(exc):
                raise
            raise NodeError(f"{exc}\n{self._log_tail(what)}") from None
        self.timings[what] = round(time.monotonic() - t0, 2)

    def ctr(self, *args: str, timeout: float = 60) -> str:
        cmd = [
            str(node_host.containerd_bin("ctr")),
            "--address",
            str(self.socket),
            "-n",
            "k8s.io",
            *args,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def ready(self) -> bool:
        out = self.cluster.kubectl("get", "node", self.name, "-o", "json", check=False)
        if not out:
            return False
        conditions = json.loads(out).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def up(self, *, timeout: float = 120) -> None:
        """Start containerd, import the images, start kubelet (+ kube-proxy); wait for Ready."""
        if reason := node_host.unsupported():
            raise NodeError(reason)
        if missing := node_host.missing_binaries():
            raise NodeError(f"missing binaries (run `make tools`): {', '.join(missing)}")
        if not self.cluster.kubeconfig.exists():
            raise NodeError(f"no control plane at {self.cluster.dir} (start the cluster first)")
        if self._alive("kubelet"):
            return
        kwok_conf = self.cluster.dir / "kwok.yaml"
        if kwok_conf.exists() and "--manage-all-nodes=false" not in kwok_conf.read_text():
            raise NodeError(
                f"cluster {self.cluster.name} predates the real node (kwok would fake its pods):"
                " recreate it (python -m devstack.cluster down, then up)"
            )
        if self.proxy and (
            others := node_host.pids_mentioning(f"{tools.kube_binary('kube-proxy')} --config")
        ):
            raise NodeError(
                f"another kube-proxy runs on this machine (pids {others}): one proxied node "
                "per machine; stop it (python -m devstack.node down) or use --no-proxy"
            )
        if node_host.links_of(self.bridge):
            raise NodeError(f"bridge {self.bridge} exists: another node owns it")
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._save(
            pids={},
            chains_before=node_host.all_chains(),
            bridge=self.bridge,
            ip_forward=node_host.ip_forward(),
        )
        prefix = self.subnet.split("/")[1]
        node_host.ensure_bridge(self.bridge, f"{self.ip}/{prefix}")
        node_host.isolate_bridge(self.bridge)
        built = images.build_all()
        self.timings["images"] = round(time.monotonic() - t0, 2)
        self._start_containerd(built["pause"].ref, timeout)
        t1 = time.monotonic()
        for image in built.values():
            images.import_image(node_host.containerd_bin("ctr"), self.socket, image)
        self.timings["import"] = round(time.monotonic() - t1, 2)
        self._start_relay(timeout)
        self._start_kubelet(timeout)
        if self.proxy:
            self._start_kube_proxy(timeout)
        self.timings["up"] = round(time.monotonic() - t0, 2)

    def _start_containerd(self, sandbox: str, timeout: float) -> None:
        conf = self.dir / "containerd.toml"
        conf.write_text(
            node_config.containerd_toml(
                root=self.dir / "containerd",
                state=self.dir / "run",
                address=self.socket,
                cni_bin=node_host.cni_bin_dir(),
                cni_conf=self.dir / "cni",
                sandbox=sandbox,
            )
        )
        cni = self.dir / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-switchboard.conflist").write_text(
            node_config.cni_conflist(
                bridge=self.bridge, subnet=self.subnet, ipam_dir=self.dir / "ipam"
            )
        )
        self._start("containerd", [str(node_host.containerd_bin()), "--config", str(conf)])

        def answers() -> bool:
            try:
                self.ctr("version", timeout=5)
            except (NodeError, subprocess.TimeoutExpired):
                return False
            return True

        self._wait("containerd", answers, timeout)

    def _start_relay(self, timeout: float) -> None:
        """The apiserver's advertised address (the bridge's) relayed to its loopback port."""
        server = self.cluster.kubectl(
            "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"
        )
        port = int(server.rsplit(":", 1)[1].strip("/"))
        if self.ip != node_config.NODE_IP:
            return  # the cluster advertises NODE_IP only
        argv = [
            sys.executable,
            "-m",
            "devstack.node_relay",
            f"{self.ip}:{port}",
            f"127.0.0.1:{port}",
        ]
        self._start("relay", argv)
        self._wait("relay", lambda: port_open(port, self.ip), timeout)

    def _start_kubelet(self, timeout: float) -> None:
        conf = self.dir / "kubelet.yaml"
        conf.write_text(
            node_config.kubelet_yaml(
                runtime=self.socket,
                address=self.ip,
                client_ca=self.cluster.dir / "pki" / "ca.crt",
                pod_logs=self.dir / "pod-logs",
                port=free_port(),
                healthz_port=free_port(),
                pod_cidr=self.subnet,
            )
        )
        argv = [
            str(tools.kube_binary("kubelet")),
            "--config",
            str(conf),
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "--hostname-override",
            self.name,
            "--node-ip",
            self.ip,
            "--root-dir",
            str(self.dir / "kubelet"),
            "--cert-dir",
            str(self.dir / "kubelet-pki"),
            "--v",
            "1",
        ]
        self._start("kubelet", argv)
        self._wait("kubelet", self.ready, timeout)

    def _start_kube_proxy(self, timeout: float) -> None:
        healthz = free_port()
        conf = self.dir / "kube-proxy.yaml"
        conf.write_text(
            node_config.kube_proxy_yaml(
                kubeconfig=self.cluster.kubeconfig,
                hostname=self.name,
                cluster_cidr=self.subnet,
                healthz_port=healthz,
                metrics_port=free_port(),
            )
        )
        self._start("kube-proxy", [str(tools.kube_binary("kube-proxy")), "--config", str(conf)])
        self._wait("kube-proxy", lambda: port_open(healthz), timeout)

    def leftovers(self) -> dict[str, object]:
        """What the node left on the host: mounts, links, iptables chains, processes."""
        before = self._state().get("chains_before", {})
        keep = before if isinstance(before, dict) else {}
        now = node_host.all_chains()
        return {
            "mounts": node_host.mounts_under(self.dir) if self.dir.exists() else [],
            "links": node_host.links_of(self.bridge),
            "chains": {k: sorted(set(v) - set(keep.get(k, []))) for k, v in now.items()},
            "processes": node_host.pids_mentioning(str(self.dir) + "/"),
        }

    def down(self, *, timeout: float = 60) -> dict[str, object]:
        """Drain, stop everything, then remove mounts, links and chains; return leftovers."""
        t0 = time.monotonic()
        if self.cluster.kubeconfig.exists() and self._alive("kubelet"):
            self._drain(timeout)
        pids = self._pids()
        for what in ("kube-proxy", "kubelet", "relay"):
            node_host.stop_pid(pids.get(what), timeout=15)
        if self._alive("containerd"):
            self._kill_tasks()
        node_host.stop_pid(pids.get("containerd"), timeout=15)
        node_host.kill_all(node_host.pids_mentioning(str(self.socket)))
        with contextlib.suppress(FileNotFoundError, subprocess.TimeoutExpired):
            subprocess.run(
                [str(tools.kube_binary("kube-proxy")), "--cleanup"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        left = self.cleanup_host()
        if self.cluster.kubeconfig.exists():
            self.cluster.kubectl("delete", "node", self.name, "--ignore-not-found", check=False)
        self._save(pids={})
        self.timings["down"] = round(time.monotonic() - t0, 2)
        return left

    def cleanup_host(self) -> dict[str, object]:
        if self.dir.exists():
            node_host.unmount_all(self.dir)
        node_host.delete_links(self.bridge)
        node_host.remove_empty_shim_dirs()
        node_host.remove_fixed_residue(self.dir)
        before = self._state().get("chains_before", {})
        node_host.remove_chains(before if isinstance(before, dict) else {})
        forward = self._state().get("ip_forward")
        if isinstance(forward, str):
            node_host.set_ip_forward(forward)
        return self.leftovers()

    def _drain(self, timeout: float) -> None:
        selector = f"spec.nodeName={self.name}"
        self.cluster.kubectl(
            "delete", "pods", "-A", "--field-selector", selector, "--wait=false", check=False
        )

        def gone() -> bool:
            out = self.cluster.kubectl(
                "get", "pods", "-A", "--field-selector", selector, "-o", "name", check=False
            )
            return not out.strip()

        with contextlib.suppress(NodeError):
            poll(gone, timeout, f"pods on {self.name} to go", 0.5, NodeError)

    def _kill_tasks(self) -> None:
        with contextlib.suppress(NodeError, subprocess.TimeoutExpired):
            for line in self.ctr("tasks", "ls", "-q", timeout=10).split():
                with contextlib.suppress(NodeError):
                    self.ctr("tasks", "kill", "-s", "SIGKILL", line, timeout=10)


def reap_orphans(name: str, cluster: str) -> list[Path]:
    """Stop nodes called `name` left running by a killed owner (another workdir than ours).

    A node's processes name its directory, `<workdir>/nodes/<name>/`; each such workdir
    gets a full `down` (drain skipped when its control plane is gone). Returns the dirs.
    """
    marker = f"/nodes/{name}/"
    dirs = set()
    for pid in node_host.pids_mentioning(marker):
        for arg in node_host.cmdline(pid).split():
            if marker in arg:
                dirs.add(Path(arg.split(marker, 1)[0]))
    for workdir in sorted(dirs):
        Node(cluster=Cluster(name=cluster, workdir=workdir), name=name).down()
    return sorted(dirs)


if __name__ == "__main__":
    from devstack.node_cli import main

    raise SystemExit(main())
