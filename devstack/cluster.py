"""Local Kubernetes control plane from the cached binaries (kwokctl, binary runtime, loopback)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import tools
from devstack.node_config import NODE_IP
from devstack.procs import poll, rss_kib

DEFAULT_NAME = "switchboard"
FAKE_NODE_PREFIX = "kwok-node"


class ClusterError(RuntimeError):
    """The control plane could not be started, reached or stopped."""


def default_workdir() -> Path:
    """Where `make up` keeps its cluster (etcd data, PKI, logs, kubeconfig)."""
    return tools.cache_dir() / "kwok"


def required_binaries() -> dict[str, Path]:
    """Every binary the launcher runs, keyed by what it is (for error messages and skips)."""
    return {
        "kwokctl": tools.kwokctl(),
        "kwok": tools.kwok(),
        "etcd": tools.etcd(),
        "kube-apiserver": tools.kube_apiserver(),
        "kube-controller-manager": tools.kube_controller_manager(),
        "kube-scheduler": tools.kube_scheduler(),
        "kubectl": tools.kubectl(),
    }


def missing_binaries() -> list[str]:
    return [
        f"{what} ({path})"
        for what, path in required_binaries().items()
        if not (path.is_file() and os.access(path, os.X_OK))
    ]


def _kwokctl_config(pki: Path) -> str:
    """KwokctlConfiguration: our binaries, loopback only, RBAC + default admission (incl. PSA)."""
    bins = required_binaries()
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "securePort": True,
        "kubeAuthorization": True,
        "kubeAdmission": True,
        # 10.0.0.1 (the `kubernetes` Service) and the real node's address: in-cluster clients.
        "kubeApiserverCertSANs": ["127.0.0.1", "localhost", "10.0.0.1", NODE_IP],
        "etcdBinary": str(bins["etcd"]),
        "kubeApiserverBinary": str(bins["kube-apiserver"]),
        "kubeControllerManagerBinary": str(bins["kube-controller-manager"]),
        "kubeSchedulerBinary": str(bins["kube-scheduler"]),
        "kwokControllerBinary": str(bins["kwok"]),
        "kubectlBinary": str(bins["kubectl"]),
    }
    # kwok fakes only its own nodes (kwokctl annotates them), never a real kubelet's node
    # (devstack/node.py): kwok would otherwise report that node's pods Running itself.
    kwok_args = [
        {"key": "manage-all-nodes", "value": "false", "override": True},
        {"key": "manage-nodes-with-annotation-selector", "value": "kwok.x-k8s.io/node=fake"},
    ]
    doc = {
        "kind": "KwokctlConfiguration",
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "options": options,
        "componentsPatches": [
            {"name": "kwok-controller", "extraArgs": kwok_args},
            # A real kubelet's logs/exec: dial its InternalIP (never look its name up in DNS),
            # as a client its x509 authentication accepts (the cluster CA signs admin.crt).
            {
                "name": "kube-apiserver",
                "extraArgs": [
                    {"key": "kubelet-preferred-address-types", "value": "InternalIP"},
                    {"key": "advertise-address", "value": NODE_IP},
                    {"key": "kubelet-client-certificate", "value": str(pki / "admin.crt")},
                    {"key": "kubelet-client-key", "value": str(pki / "admin.key")},
                ],
            },
        ],
    }
    return json.dumps(doc, indent=2) + "\n"  # JSON is YAML


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


@dataclass
class Cluster:
    """One kwok-managed control plane; `name` and `workdir` keep tests and `make up` apart."""

    name: str = DEFAULT_NAME
    workdir: Path = field(default_factory=default_workdir)
    nodes: int = 1
    # Set by short-lived owners (a pytest session): if that pid dies, reap_orphans() may stop us.
    owner_pid: int | None = None

    @property
    def dir(self) -> Path:
        return self.workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig.yaml"

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.kwokctl.yaml"

    @property
    def owner_path(self) -> Path:
        return self.workdir / f"{self.name}.owner"

    def exists(self) -> bool:
        return (self.dir / "kwok.yaml").exists()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.workdir)
        # Nothing here may reach a remote cluster or proxy: loopback only.
        for key in ("KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(key, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def kwokctl(self, *args: str, timeout: float = 180) -> str:
        """Run kwokctl for this cluster; raise ClusterError with its output on failure."""
        cmd = [str(tools.kwokctl()), "--name", self.name, *args]
        try:
            done = subprocess.run(
                cmd, env=self._env(), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{' '.join(cmd)} timed out after {timeout}s") from exc
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def kubectl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        cmd = [str(tools.kubectl()), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(
            cmd, env=self._env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout if done.returncode == 0 else ""

    def pid_files(self) -> dict[str, int]:
        """Component name -> pid, from the pid files kwokctl writes for the binary runtime."""
        out: dict[str, int] = {}
        for path in sorted((self.dir / "pids").glob("*.pid")):
            text = path.read_text().strip()
            if text.isdigit():
                out[path.stem] = int(text)
        return out

    def processes(self) -> dict[int, str]:
        """Live processes belonging to this cluster: any whose command line names its dir."""
        marker = str(self.dir) + "/"
        found: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and marker in (cmd := _cmdline(int(entry.name))):
                found[int(entry.name)] = cmd
        return found

    def rss_kib(self) -> dict[str, int]:
        """RSS per running component (etcd, kube-apiserver, controller-manager, ..., kwok)."""
        return {name: rss_kib(pid) for name, pid in self.pid_files().items() if rss_kib(pid)}

    def is_running(self) -> bool:
        return self.exists() and bool(self.processes())

    def ready(self) -> bool:
        """The API answers /readyz and the fake nodes plus the default ServiceAccount exist."""
        if not self.kubeconfig.exists():
            return False
        if self.kubectl("get", "--raw", "/readyz", timeout=10, check=False).strip() != "ok":
            return False
        nodes = self.kubectl("get", "nodes", "-o", "json", timeout=10, check=False)
        items = json.loads(nodes)["items"] if nodes else []
        ready = [
            n
            for n in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) < self.nodes:
            return False
        return bool(self.kubectl("get", "sa", "default", "-n", "default", timeout=10, check=False))

    def up(self, *, timeout: float = 120) -> Path:
        """Create (or restart) the cluster and wait until it is usable; return the kubeconfig."""
        if missing := missing_binaries():
            raise ClusterError(f"missing binaries (run `make tools`): {', '.join(missing)}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.owner_pid is not None:
            self.owner_path.write_text(f"{self.owner_pid}\n")
        if self.exists():
            self.kwokctl("start", "cluster", "--timeout", f"{int(timeout)}s", timeout=timeout)
        else:
            self.config_path.write_text(_kwokctl_config(self.dir / "pki"))
            self.kwokctl(
                "create",
                "cluster",
                "--config",
                str(self.config_path),
                "--kubeconfig",
                "",
                "--timeout",
                f"{int(timeout)}s",
                timeout=timeout,
            )
        poll(self.kubeconfig.exists, timeout, "the kubeconfig", 0.25, ClusterError)
        self._ensure_nodes(timeout)
        poll(
            self.ready,
            timeout,
            "the API, Ready fake nodes and the default ServiceAccount",
            0.25,
            ClusterError,
        )
        return self.kubeconfig

    def _ensure_nodes(self, timeout: float) -> None:
        poll(
            lambda: self.kubectl("get", "--raw", "/readyz", timeout=10, check=False) == "ok",
            timeout,
            "kube-apiserver /readyz",
            0.25,
            ClusterError,
        )
        self.kwokctl("scale", "node", "--replicas", str(self.nodes), timeout=timeout)

    def down(self, *, delete: bool = True, timeout: float = 60) -> None:
        """Stop every component; with `delete`, also remove etcd data, PKI and logs."""
        if self.exists():
            verb = "delete" if delete else "stop"
            self.kwokctl(verb, "cluster", timeout=timeout)
        poll(
            lambda: not self.processes(),
            timeout,
            f"processes of {self.name} to exit",
            0.25,
            ClusterError,
        )
        if delete:
            self.config_path.unlink(missing_ok=True)
            self.owner_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(name: str) -> list[int]:
    """Stop clusters called `name` whose owner process died (e.g. a killed pytest session).

    Only clusters started with `owner_pid` are considered, plus processes whose cluster
    directory was already removed (nothing can use those). Returns the pids stopped.
    """
    marker = f"/clusters/{name}/bin/"
    reaped: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv0 = _cmdline(int(entry.name)).split(" ", 1)[0]
        if marker not in argv0:
            continue
        workdir = Path(argv0.split(marker, 1)[0])
        owner = workdir / f"{name}.owner"
        if not (workdir / "clusters" / name).exists():
            os.kill(int(entry.name), signal.SIGTERM)
            reaped.append(int(entry.name))
        elif owner.exists() and not _alive(int(owner.read_text().strip() or 0)):
            pids = list(Cluster(name=name, workdir=workdir).processes())
            Cluster(name=name, workdir=workdir).down()
            reaped.extend(pids)
    return reaped


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.cluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "stop", "kubeconfig", "status"])
    parser.add_argument("--name", default=os.environ.get("SWITCHBOARD_CLUSTER", DEFAULT_NAME))
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--nodes", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    cluster = Cluster(name=args.name, workdir=args.workdir, nodes=args.nodes)
    try:
        if args.command == "up":
            start = time.monotonic()
            path = cluster.up()
            print(
                f"cluster {cluster.name} ready in {time.monotonic() - start:.1f}s", file=sys.stderr
            )
            print(path)
        elif args.command in ("down", "stop"):
            cluster.down(delete=args.command == "down")
        elif args.command == "kubeconfig":
            print(cluster.kubeconfig)
        else:
            rss = cluster.rss_kib()
            state = "running" if cluster.is_running() else "stopped"
            print(json.dumps({"name": cluster.name, "state": state, "rss_kib": rss}, indent=2))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
