"""200 SipTrunks applied at once: time to Ready, LiveKit calls per trunk, operator RSS, idle writes.

Runs the real stack: control plane (kwok), redis + livekit-server, and the operator process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client
from switchboard.api import GROUP, VERSION

from bench.common import summary, write
from bench.stack import BenchStack
from devstack.procs import poll, rss_kib

WRITE_PREFIXES = ("Create", "Update", "Delete")
PROBE_CACHE_S = 10.5


def trunk(i: int) -> dict[str, Any]:
    number = f"+1555{i:07d}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": f"bench-{i:04d}"},
        "spec": {
            "inbound": {"numbers": [number], "allowedAddresses": ["127.0.0.1/32"]},
            "outbound": {"address": "127.0.0.1:5090", "numbers": [number]},
        },
    }


def writes(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op.startswith(WRITE_PREFIXES))


def run(count: int, idle_s: float, workdir: Path) -> dict[str, Any]:
    stack = BenchStack(workdir)
    try:
        stack.start()
        assert stack.operator is not None and stack.api is not None
        op, custom = stack.operator, client.CustomObjectsApi(stack.api)

        def probe() -> dict[str, int]:
            return dict(stack.probe().get("livekitCalls", {}))

        created_at: dict[str, float] = {}
        with ThreadPoolExecutor(16) as pool:

            def create(i: int) -> None:
                body = trunk(i)
                created_at[body["metadata"]["name"]] = time.monotonic()
                custom.create_namespaced_custom_object(GROUP, VERSION, "bench", "siptrunks", body)

            start = time.monotonic()
            list(pool.map(create, range(count)))
        ready_at: dict[str, float] = {}

        def all_ready() -> bool:
            items = custom.list_namespaced_custom_object(GROUP, VERSION, "bench", "siptrunks")
            now = time.monotonic()
            for obj in items["items"]:
                conds = (obj.get("status") or {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                    ready_at.setdefault(obj["metadata"]["name"], now)
            return len(ready_at) == count

        poll(all_ready, 300, f"{count} SipTrunks Ready", interval=0.05)
        total = time.monotonic() - start
        per_object = [ready_at[n] - created_at[n] for n in ready_at]
        # kopf caches probe results for 10 s: wait past that so the counts are current.
        time.sleep(PROBE_CACHE_S)
        calls = probe()
        rss_ready = rss_kib(op.pid) / 1024
        print(f"{count} SipTrunks Ready in {total:.2f}s; per object {summary(per_object)}")
        print(f"LiveKit calls: {calls} -> {sum(calls.values()) / count:.2f} per trunk")

        print(f"idle for {idle_s:.0f}s, counting LiveKit writes...")
        time.sleep(max(idle_s, PROBE_CACHE_S))
        idle_calls = probe()
        idle_writes = writes(idle_calls) - writes(calls)
        print(f"writes while idle: {idle_writes}; operator RSS {rss_kib(op.pid) / 1024:.1f} MiB")
        return {
            "count": count,
            "total_s": total,
            "per_object_s": summary(per_object),
            "livekit_calls": calls,
            "livekit_calls_per_trunk": sum(calls.values()) / count,
            "livekit_writes_per_trunk": writes(calls) / count,
            "operator_rss_mib_after_ready": rss_ready,
            "operator_rss_mib_after_idle": rss_kib(op.pid) / 1024,
            "idle_s": idle_s,
            "idle_livekit_writes": idle_writes,
            "idle_livekit_reads": sum(idle_calls.values()) - sum(calls.values()) - idle_writes,
            "targets": {"all_ready_s": 20, "idle_writes": 0},
        }
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench siptrunk", description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--idle", type=float, default=float(os.environ.get("BENCH_IDLE_S", "300")))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        result = run(args.count, args.idle, Path(tmp))
    write("siptrunk", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
