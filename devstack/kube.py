"""kubectl/helm helpers for `make up`: run them, read objects, wait for conditions, render RBAC."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack import procs, tools
from devstack.tools import REPO

CHART = REPO / "charts" / "switchboard"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


class KubeError(RuntimeError):
    """kubectl or helm failed, or an object did not reach the wanted state in time."""


def _env(kubeconfig: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
        # A local control plane: never through a proxy.
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(key, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def run(
    argv: Sequence[str], kubeconfig: Path | None, *, stdin: str | None = None, timeout: float = 120
) -> str:
    """Run kubectl/helm with `kubeconfig` (None: the caller's KUBECONFIG); stdout, or KubeError."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            env=_env(kubeconfig),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KubeError(f"{Path(argv[0]).name} {' '.join(argv[1:3])}: timed out") from exc
    if done.returncode != 0:
        raise KubeError(f"{Path(argv[0]).name} {' '.join(argv[1:])} failed:\n{done.stderr.strip()}")
    return done.stdout


def kubectl(kubeconfig: Path | None, *args: str, stdin: str | None = None) -> str:
    return run([str(tools.kubectl()), *args], kubeconfig, stdin=stdin)


def helm(kubeconfig: Path | None, *args: str, timeout: float = 600) -> str:
    return run([str(tools.helm()), *args], kubeconfig, timeout=timeout)


def get(kubeconfig: Path | None, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    """The object as a dict, or None if it does not exist (yet)."""
    try:
        out = kubectl(kubeconfig, "get", kind, name, "-n", namespace, "-o", "json")
    except KubeError as err:
        if "NotFound" in str(err):
            return None
        raise
    obj: dict[str, Any] = json.loads(out)
    return obj


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_true(obj: dict[str, Any] | None, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def secret_data(obj: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def poll(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call `check` until truthy; KubeError naming `what` on timeout (a hang guard)."""
    return procs.poll(check, timeout, what, interval, KubeError)


def render_chart(
    release: str, namespace: str, *values: str, crds: bool = False
) -> list[dict[str, Any]]:
    """`helm template` of the chart (no cluster needed) as a list of objects."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    if crds:
        args.append("--include-crds")
    for value in values:
        args += ["--set", value]
    out = helm(None, *args)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def apply(
    kubeconfig: Path | None, docs: list[dict[str, Any]], namespace: str | None = None
) -> None:
    """Server-side apply a list of objects in one kubectl call."""
    args = [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=switchboard-up",
        "-f",
        "-",
    ]
    if namespace:
        args += ["-n", namespace]
    kubectl(kubeconfig, *args, stdin=yaml.safe_dump_all(docs))


def load_examples(directory: Path) -> list[dict[str, Any]]:
    """The offline examples (top level of examples/; examples/cloud/ are templates)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    """A kubeconfig for the same API server that authenticates with a ServiceAccount token."""
    cfg = yaml.safe_load(admin.read_text())
    ctx_name = cfg.get("current-context") or cfg["contexts"][0]["name"]
    ctx = next(c for c in cfg["contexts"] if c["name"] == ctx_name)["context"]
    cluster = next(c for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    out = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster["cluster"]}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(out))
    path.chmod(0o600)
    return path
