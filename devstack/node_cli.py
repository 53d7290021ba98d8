"""The real node's CLI (`python -m devstack.node up|down|status`): JSON timings and leftovers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack import images, node_host
from devstack.cluster import Cluster, default_workdir
from devstack.node import DEFAULT_NODE, Node, NodeError
from devstack.procs import rss_kib as procs_rss


def rss_kib(node: Node) -> dict[str, int]:
    """RSS of containerd, kubelet and kube-proxy (the node's own cost, without pods)."""
    return {what: procs_rss(pid) for what, pid in node._pids().items() if procs_rss(pid)}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.node", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--cluster", default=os.environ.get("SWITCHBOARD_CLUSTER", "switchboard"))
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--name", default=DEFAULT_NODE)
    parser.add_argument("--no-proxy", action="store_true", help="skip kube-proxy")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    node = Node(
        cluster=Cluster(name=args.cluster, workdir=args.workdir),
        name=args.name,
        proxy=not args.no_proxy,
    )
    try:
        if args.command == "up":
            node.up()
            print(json.dumps({"node": node.name, "timings_s": node.timings}, indent=2))
        elif args.command == "down":
            left = node.down()
            print(json.dumps({"timings_s": node.timings, "leftovers": left}, indent=2))
            if not node_host.is_clean(left):
                print("error: leftovers after down", file=sys.stderr)
                return 1
        else:
            state = {"ready": node.ready(), "rss_kib": rss_kib(node), "leftovers": node.leftovers()}
            print(json.dumps(state, indent=2))
    except (NodeError, images.ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
