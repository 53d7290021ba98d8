"""Shared benchmark helpers: percentiles, result files, process-tree memory and CPU, turns."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from tests.support.agent_otlp import ReceivedSpan

RESULTS = Path(__file__).resolve().parent / "results"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        **data,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    print(f"wrote {path}")
    return path


def _cpus() -> int:
    return os.cpu_count() or 0


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _mib(n: float) -> float:
    return round(n / 2**20, 1)


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS of a process tree and USS (unshared) per process; forkserver pages are shared."""
    procs = []
    for p in process_tree(pid):
        try:
            info = p.memory_full_info()
            procs.append({"pid": p.pid, "rss": info.rss, "uss": info.uss})
        except psutil.Error:
            continue
    return {
        "tree_rss_mb": _mib(sum(p["rss"] for p in procs)),
        "tree_uss_mb": _mib(sum(p["uss"] for p in procs)),
        "procs": [{**p, "rss": _mib(p["rss"]), "uss": _mib(p["uss"])} for p in procs],
    }


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of each live process of a tree, by pid."""
    out = {}
    for p in process_tree(pid):
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a tree spent between two `tree_cpu_s` samples (new processes count whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def turn_stages(spans: list[ReceivedSpan]) -> list[dict[str, float]]:
    """Per-answer stage latencies (ms) from the root spans' switchboard.turn events."""
    out = []
    for span in spans:
        if span.parent_id:
            continue
        for name, attrs in span.events:
            if name == "switchboard.turn" and "switchboard.turn.eou_delay" in attrs:
                out.append({k.rsplit(".", 1)[1]: v * 1000 for k, v in attrs.items()})
    return out
