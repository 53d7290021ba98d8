"""`make up` with KUBECONFIG set: helm-install the chart on that (kind/minikube) cluster."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import yaml
from switchboard.config import ENV_AGENT_IMAGE
from switchboard_contract.env import ENV_LIVEKIT_API_KEY, ENV_LIVEKIT_API_SECRET, ENV_LIVEKIT_URL

from devstack import kube
from devstack.kube import CHART, KubeError
from devstack.runstate import RunState
from devstack.tools import REPO
from devstack.up_summary import print_summary

# Contexts of local clusters; anything else needs SWITCHBOARD_UP_ANY_CONTEXT=1.
LOCAL_CONTEXTS = re.compile(r"^(kind-.*|minikube|docker-desktop|k3d-.*|rancher-desktop|colima)$")


def _values(run_dir: Path) -> tuple[list[str], Path]:
    """Images (--set) and LiveKit (a 0600 values file, so no secret is on a command line)."""
    out = []
    for var, key in (
        ("SWITCHBOARD_OPERATOR_IMAGE", "image"),
        (ENV_AGENT_IMAGE, "agentImage"),
    ):
        if ref := os.environ.get(var):
            repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
            out += [f"{key}.repository={repo}", f"{key}.tag={tag or 'latest'}"]
    livekit = {
        "url": os.environ[ENV_LIVEKIT_URL],
        "apiKey": os.environ[ENV_LIVEKIT_API_KEY],
        "apiSecret": os.environ[ENV_LIVEKIT_API_SECRET],
    }
    path = run_dir / "livekit-values.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump({"livekit": livekit}))
    return out, path


def _wait_ready(kind: str, name: str, namespace: str) -> None:
    def ready() -> bool:
        return kube.is_true(kube.get(None, kind, name, namespace), "Ready")

    kube.poll(ready, 300, f"{kind}/{name} Ready")


def up(run_dir: Path, release: str, namespace: str, examples_ns: str) -> int:
    started = time.monotonic()
    context = kube.kubectl(None, "config", "current-context").strip()
    print(f"KUBECONFIG is set: installing with helm into context {context!r}")
    if not LOCAL_CONTEXTS.match(context) and os.environ.get("SWITCHBOARD_UP_ANY_CONTEXT") != "1":
        print(
            f"refusing: {context!r} does not look like a local cluster (kind/minikube). "
            "Set SWITCHBOARD_UP_ANY_CONTEXT=1 to proceed, or unset KUBECONFIG for the "
            "local stack.",
            file=sys.stderr,
        )
        return 2
    missing = [
        v
        for v in (ENV_LIVEKIT_URL, ENV_LIVEKIT_API_KEY, ENV_LIVEKIT_API_SECRET)
        if not os.environ.get(v)
    ]
    if missing:
        print(
            f"set {', '.join(missing)}: pods in the cluster need a LiveKit they can reach "
            "(LiveKit Cloud, or livekit-server in the cluster)",
            file=sys.stderr,
        )
        return 2
    state = RunState(
        str(run_dir),
        "helm",
        info={
            "context": context,
            "release": release,
            "namespace": namespace,
            "examples_namespace": examples_ns,
        },
    )
    state.save()
    try:
        args = [
            "upgrade",
            "--install",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--create-namespace",
            "--wait",
            "--timeout",
            "5m",
        ]
        values, values_file = _values(run_dir)
        args += ["--values", str(values_file)]
        for value in values:
            args += ["--set", value]
        print(f"helm {' '.join(args[:4])} ... (waits for the operator rollout)")
        kube.helm(None, *args)
        docs = kube.load_examples(REPO / "examples")
        kube.apply(None, docs, examples_ns)
        print(f"applied examples/*.yaml in {examples_ns}")
        for doc in docs:
            kind, name = doc["kind"].lower(), doc["metadata"]["name"]
            print(f"... {kind}/{name} Ready")
            _wait_ready(kind, name, examples_ns)
    except KubeError as err:
        print(f"make up (helm) failed: {err}", file=sys.stderr)
        return 1
    state.info["ready_seconds"] = round(time.monotonic() - started, 1)
    state.info["numbers"] = [
        n
        for d in docs
        if d["kind"] == "SipTrunk"
        for n in (d["spec"].get("inbound") or {}).get("numbers", [])
    ]
    state.save()
    print_summary(state)
    print(f"operator logs: kubectl -n {namespace} logs deploy/{release}-operator -f")
    return 0


def down(state: RunState) -> None:
    """Delete the examples and uninstall the release (CRDs stay, as with any helm chart)."""
    namespace, release = state.info["namespace"], state.info["release"]
    docs = kube.load_examples(REPO / "examples")
    for doc in reversed(docs):
        kind, name = doc["kind"].lower(), doc["metadata"]["name"]
        try:
            kube.kubectl(
                None,
                "delete",
                kind,
                name,
                "-n",
                state.info.get("examples_namespace", "default"),
                "--ignore-not-found",
                "--wait=true",
                "--timeout=120s",
            )
        except KubeError as err:
            print(f"{kind}/{name}: {err}", file=sys.stderr)
    try:
        kube.helm(None, "uninstall", release, "--namespace", namespace, "--wait")
        print(f"uninstalled {release} from {namespace} (CRDs kept: kubectl delete -f crds/)")
    except KubeError as err:
        print(f"helm uninstall: {err}", file=sys.stderr)
