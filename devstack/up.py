"""`python -m devstack.up up|down|status`: the one-command local stack behind `make up`/`down`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack import cluster as devcluster
from devstack import tools, up_helm
from devstack.kube import KubeError
from devstack.local_stack import (
    CLUSTER_NAME,
    EXAMPLES_NS,
    OPERATOR_NS,
    RELEASE,
    LocalStack,
    default_run_dir,
)
from devstack.procs import StartupError
from devstack.runstate import RunState, processes_mentioning
from devstack.up_summary import print_status, print_summary


def stop_all(state: RunState) -> list[str]:
    """Stop every component (newest first) and the cluster; return what is still running."""
    left: list[str] = []
    for comp in reversed(state.components):
        survivors = comp.stop()
        print(
            f"stopped {comp.name} (pid {comp.pid})" + (f", LEFT {survivors}" if survivors else "")
        )
        left += [f"{comp.name}: {pid}" for pid in survivors]
    if state.mode == "local" and state.cluster_name:
        cluster = devcluster.Cluster(state.cluster_name, Path(state.cluster_workdir))
        try:
            cluster.down(delete=True)
            print(f"deleted cluster {cluster.name}")
        except devcluster.ClusterError as err:
            print(f"cluster {cluster.name}: {err}", file=sys.stderr)
        left += [f"cluster: {pid} {cmd[:80]}" for pid, cmd in cluster.processes().items()]
    left += [f"{pid} {cmd[:80]}" for pid, cmd in processes_mentioning(state.run_dir + "/").items()]
    return left


def cmd_up(args: argparse.Namespace) -> int:
    run_dir = args.run_dir.resolve()
    old = RunState.load(run_dir)
    if old is not None and any(c.alive() for c in old.components):
        print(f"already up (state in {old.path}); `make down` first. Status:")
        return cmd_status(args)
    if old is not None:
        stop_all(old)  # leftovers of a crashed run
        old.remove()
    if os.environ.get("KUBECONFIG") and not args.local:
        return up_helm.up(run_dir, RELEASE, OPERATOR_NS, EXAMPLES_NS)
    missing = devcluster.missing_binaries() + [
        f"{what} ({path})"
        for what, path in (
            ("helm", tools.helm()),
            ("livekit-server", tools.livekit_server()),
            ("livekit-sip", tools.livekit_sip()),
        )
        if not path.exists()
    ]
    if missing or tools.redis_server() is None:
        print(f"missing tools (run `make tools`): {', '.join(missing) or 'redis-server'}")
        return 2
    for old_run in ("logs", "livekit", "agents"):  # a fresh run, fresh logs
        shutil.rmtree(run_dir / old_run, ignore_errors=True)
    state = RunState(str(run_dir), "local", args.cluster_name, str(args.cluster_workdir))
    if args.owner_pid:
        state.info["owner_pid"] = args.owner_pid  # devcluster.reap_orphans may stop it
    state.save()
    stack = LocalStack(state, fixed_ports=not args.free_ports, sipws=args.sipws)
    try:
        stack.up()
    except (StartupError, KubeError, devcluster.ClusterError) as err:
        stack.progress.stop()
        print(f"\nmake up failed: {err}\nlogs: {run_dir / 'logs'}; cleaning up", file=sys.stderr)
        stop_all(state)
        state.remove()
        return 1
    print_summary(state)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    run_dir = args.run_dir.resolve()
    state = RunState.load(run_dir)
    if state is None:
        print(f"nothing recorded in {run_dir}; checking for a leftover cluster")
        state = RunState(str(run_dir), "local", args.cluster_name, str(args.cluster_workdir))
    if state.mode == "helm":
        up_helm.down(state)
    left = stop_all(state)
    if left:
        print("STILL RUNNING:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    state.remove()
    for secret in ("operator.kubeconfig", "livekit-values.yaml"):  # logs stay for a look
        (run_dir / secret).unlink(missing_ok=True)
    print("down: no processes left")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = RunState.load(args.run_dir.resolve())
    if state is None:
        print("not running (no state file)")
        return 3
    return print_status(state)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.up", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--run-dir", type=Path, default=default_run_dir())
    parser.add_argument("--cluster-name", default=CLUSTER_NAME)
    parser.add_argument("--cluster-workdir", type=Path, default=devcluster.default_workdir())
    parser.add_argument("--free-ports", action="store_true", help="no well-known ports (tests)")
    parser.add_argument("--local", action="store_true", help="ignore KUBECONFIG: local stack")
    parser.add_argument(
        "--sipws", action="store_true", help="local stack: also SIP over WebSocket (kamailio)"
    )
    parser.add_argument("--owner-pid", type=int, help="tests: the cluster dies with this pid")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    handler = {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command]
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
