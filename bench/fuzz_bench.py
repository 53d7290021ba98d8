"""`python -m bench fuzz`: seeded CRD-drawn manifests, valid and mutated, on the real stack."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from switchboard.api import GROUP, VERSION
from switchboard.names import worker_name
from urllib3.exceptions import HTTPError

from bench.common import RESULTS, summary, tree_memory, write
from bench.fuzz_cases import PLURALS, Case, generate
from bench.stack import BenchStack

DEFAULT_SEED = 20261201
WINDOW = 50
CONDITION_S = 30.0
POD_QUOTA = "20"  # VoiceAgents may ask for 1000 workers: kwok must not get them
MESSAGE_CHARS = 300
DELETE_S = 60.0  # after the last create: objects still there then are blocked in deletion
# One valid object of each kind: each kind's watch must be up before anything is timed.
WARMUP = {
    "SipTrunk": {"inbound": {"allowedAddresses": ["127.0.0.1/32"]}},
    "VoiceAgent": {
        "pipeline": {
            "stt": {"provider": "pocketsphinx"},
            "llm": {"provider": "scripted", "script": {}},
            "tts": {"provider": "flite"},
        }
    },
}
# kopf: "[ns/name] Handler 'voiceagent_sync' failed temporarily: ..." (or "with an exception")
RETRY_LINE = re.compile(
    r"\[([^/\]\s]+)/([^\]\s]+)\] Handler '([^']+)' failed (temporarily|with an exception)"
)


class Watcher:
    """When each object first shows Ready for its own generation, from a watch per kind."""

    def __init__(self, api: client.ApiClient, namespace: str, stopped: threading.Event) -> None:
        self.custom, self.namespace, self.stopped = client.CustomObjectsApi(api), namespace, stopped
        self.ready: dict[str, tuple[float, dict[str, Any]]] = {}
        self.last: dict[str, dict[str, Any]] = {}  # the latest Ready, of any generation
        for plural in PLURALS.values():
            threading.Thread(target=self._watch, args=(plural,), daemon=True).start()

    def _watch(self, plural: str) -> None:
        while not self.stopped.is_set():
            try:
                for event in watch.Watch().stream(
                    self.custom.list_namespaced_custom_object,
                    *(GROUP, VERSION, self.namespace, plural),
                    timeout_seconds=120,
                ):
                    self._observe(event["object"], time.monotonic())
            except (ApiException, HTTPError):
                time.sleep(0.5)  # expired, or the run is ending: list and watch again

    def _observe(self, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready":
                self.last[meta["name"]] = cond
                if cond.get("observedGeneration") == meta.get("generation"):
                    self.ready.setdefault(meta["name"], (now, cond))


@dataclass
class Applier:
    """Keeps up to `window` objects in flight: create, wait for its Ready, then delete it."""

    custom: client.CustomObjectsApi
    apps: client.AppsV1Api
    namespace: str
    watcher: Watcher
    alive: Callable[[], bool]

    def create(self, case: Case) -> None:
        case.created = time.monotonic()
        body, plural = case.manifest, PLURALS[case.kind]
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, body
            )
        except ApiException as err:
            try:
                message = str(json.loads(err.body)["message"])
            except (TypeError, ValueError, KeyError):
                message = f"{err.reason}: {err.body}"
            named = re.search(r"\bspec[.:\[]", message) or (case.field and case.field in message)
            if err.status not in (400, 422):
                case.outcome = f"error HTTP {err.status}"
            else:
                case.outcome = "rejected, field named" if named else "rejected, no field named"
            case.message = message[:MESSAGE_CHARS]
            return
        case.outcome = "admitted"

    def retire(self, case: Case) -> None:
        """Record whether Ready came within CONDITION_S of the create, then delete."""
        at, cond = self.watcher.ready.get(case.name, (math.inf, {}))
        if at - case.created <= CONDITION_S:
            case.outcome, case.latency_s = "reconciled", at - case.created
        else:
            case.outcome = "no condition"
            cond = self.watcher.last.get(case.name, {"message": "no Ready condition seen"})
        case.reason, case.message = cond.get("reason", ""), str(cond.get("message"))[:MESSAGE_CHARS]
        if case.kind == "VoiceAgent":
            try:
                self.apps.read_namespaced_deployment(worker_name(case.name), self.namespace)
                case.deployment = True
            except ApiException as err:
                if err.status != 404:
                    raise
                case.deployment = False
        try:
            self.custom.delete_namespaced_custom_object(
                *(GROUP, VERSION, self.namespace, PLURALS[case.kind], case.name),
                propagation_policy="Background",
            )
        except ApiException as err:
            if err.status != 404:
                raise

    def run(self, cases: list[Case], window: int, pool: ThreadPoolExecutor) -> None:
        queue, flight, start, shown = deque(cases), dict[str, Case](), time.monotonic(), 0
        while (queue or flight) and self.alive():
            fill = [queue.popleft() for _ in range(min(len(queue), window - len(flight)))]
            list(pool.map(self.create, fill))
            flight.update((c.name, c) for c in fill if c.outcome == "admitted")
            now = time.monotonic()
            due = [
                n
                for n, c in flight.items()
                if n in self.watcher.ready or now - c.created > CONDITION_S
            ]
            done = [flight.pop(name) for name in due]
            list(pool.map(self.retire, done))
            finished = len(cases) - len(queue) - len(flight)
            if finished // 100 > shown or finished == len(cases):
                shown = finished // 100
                outcomes = Counter(c.outcome for c in cases if c.outcome != "not run")
                print(
                    f"  {finished}/{len(cases)} at {now - start:.0f}s: {dict(outcomes)}", flush=True
                )
            if not fill and not done:
                time.sleep(0.05)
        list(pool.map(self.retire, flight.values()))  # the operator died: no condition now


def parse_log(text: str, cases: list[Case]) -> dict[str, Any]:
    """Handler retries by object, stuck objects (retrying and never a condition), tracebacks."""
    retries: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    cause: dict[str, str] = {}  # the first failure logged per object, headers left out
    for m in RETRY_LINE.finditer(text):
        retries[m[2]] += 1
        excerpt = re.sub(r"HTTP response headers: .*\n", "", text[m.start() : m.start() + 1500])
        cause.setdefault(m[2], " ".join(excerpt.split())[:MESSAGE_CHARS])
        kinds[f"{m[3]} failed {m[4]}"] += 1
    no_condition = {c.name for c in cases if c.outcome == "no condition"}
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    first: list[str] = []
    if starts:  # from the log record that printed it to the next record
        begin = next((i for i in range(starts[0], -1, -1) if lines[i].startswith("[")), 0)
        for line in lines[begin : starts[0] + 80]:
            if first and line.startswith("[") and len(first) > starts[0] - begin:
                break
            first.append(line)
    return {
        "retrying_objects": len(retries),
        "retries": dict(kinds),
        "stuck": sorted(n for n in retries if n in no_condition),
        "stuck_log": {n: cause[n] for n in sorted(retries) if n in no_condition},
        "tracebacks": len(starts),
        "first_traceback": "\n".join(first),
    }


def run(cases: list[Case], workdir: Path, window: int, log_copy: Path | None) -> dict[str, Any]:
    stack = BenchStack(workdir)
    try:
        stack.start()
        assert stack.operator is not None and stack.api is not None
        op, ns = stack.operator, stack.namespace
        custom, apps = client.CustomObjectsApi(stack.api), client.AppsV1Api(stack.api)
        quota = client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="fuzz-pods"),
            spec=client.V1ResourceQuotaSpec(hard={"pods": POD_QUOTA}),
        )
        client.CoreV1Api(stack.api).create_namespaced_resource_quota(ns, quota)
        rss = {"before": tree_memory(op.pid)["tree_rss_mb"]}
        rss["peak"] = rss["before"]
        stopped = threading.Event()

        def sample() -> None:
            while not stopped.wait(1.0) and op.alive():
                with contextlib.suppress(psutil.Error):
                    rss["peak"] = max(rss["peak"], tree_memory(op.pid)["tree_rss_mb"])

        threading.Thread(target=sample, daemon=True).start()
        # its own client: two long watches must not hold the creating threads' connections
        watch_api = config.new_client_from_config(config_file=str(stack.cluster.kubeconfig))
        watcher = Watcher(watch_api, ns, stopped)
        applier = Applier(custom, apps, ns, watcher, op.alive)
        warmup = [
            Case(f"fz-warmup-{kind.lower()}", kind, None, None, {"kind": kind, "spec": spec})
            for kind, spec in WARMUP.items()
        ]
        for case in warmup:
            case.manifest.update(apiVersion=f"{GROUP}/{VERSION}", metadata={"name": case.name})
        with ThreadPoolExecutor(8) as pool:
            applier.run(warmup, len(warmup), pool)
            start = time.monotonic()
            applier.run(cases, window, pool)
        apply_s = time.monotonic() - start

        def left() -> list[str]:
            lists = (
                custom.list_namespaced_custom_object(GROUP, VERSION, ns, p)
                for p in PLURALS.values()
            )
            return sorted(o["metadata"]["name"] for items in lists for o in items["items"])

        deadline = time.monotonic() + DELETE_S
        while (remaining := left()) and time.monotonic() < deadline and op.alive():
            time.sleep(1)
        alive = op.alive()
        rss["after"] = tree_memory(op.pid)["tree_rss_mb"] if alive else math.nan
        stopped.set()
    finally:
        stack.stop()
    text = op.log_path.read_text(errors="replace")
    if log_copy is not None:
        log_copy.write_text(text)
    return {
        "apply_s": apply_s,
        "rss_mb": rss,
        "deletion_blocked": remaining,
        "crashes": 0 if alive else 1,
        "operator_exit_code": None if alive else op.proc.returncode if op.proc else None,
        **parse_log(text, cases),
    }


OK_OUTCOMES = ("reconciled", "rejected, field named")
ORDER = (*OK_OUTCOMES, "no condition", "rejected, no field named")


def report(
    cases: list[Case], seed: int, walls: dict[str, float], stats: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Print the summary table; the result for the JSON file, and whether the run passed."""
    by_kind = Counter((c.kind, c.outcome) for c in cases)
    outcomes = sorted({c.outcome for c in cases}, key=lambda o: (*ORDER, o).index(o))
    print(f"{'outcome':<28}{'SipTrunk':>10}{'VoiceAgent':>12}{'total':>8}")
    for o in outcomes:
        st, va = by_kind["SipTrunk", o], by_kind["VoiceAgent", o]
        print(f"{o:<28}{st:>10}{va:>12}{st + va:>8}")

    def fate(c: Case) -> str:
        admitted = c.outcome in ("reconciled", "no condition")
        return f"{c.mutation.split()[0] if c.mutation else 'valid draw'} -> " + (
            "admitted" if admitted else "refused"
        )

    fates = Counter(map(fate, cases))
    print("by intent:", ", ".join(f"{k}: {n}" for k, n in sorted(fates.items())))
    latency = summary([c.latency_s for c in cases if c.latency_s is not None])
    print(
        f"create -> Ready for its generation: n {latency['n']}, p50 {latency['p50']:.2f}s, "
        f"p95 {latency['p95']:.2f}s, max {latency['max']:.2f}s"
    )
    rss = stats["rss_mb"]
    print(
        f"wall: generate {walls['generate_s']:.0f}s, apply {stats['apply_s']:.0f}s, "
        f"total {walls['total_s']:.0f}s"
    )
    print(f"operator RSS MiB: before {rss['before']}, peak {rss['peak']}, after {rss['after']}")
    blocked = stats["deletion_blocked"]
    print(
        f"operator: crashes {stats['crashes']}, stuck {len(stats['stuck'])} {stats['stuck'][:10]}, "
        f"tracebacks {stats['tracebacks']}, deletion blocked {len(blocked)} {blocked[:10]}"
    )
    print(f"handler retries on {stats['retrying_objects']} objects: {stats['retries']}")
    if stats["first_traceback"]:
        print("first traceback:\n" + stats["first_traceback"])
    failing = [
        {
            "name": c.name,
            "kind": c.kind,
            "mutation": c.mutation,
            "reason": c.outcome + (f" (Ready reason {c.reason})" if c.reason else ""),
            "message": c.message,
            "operator_log": stats["stuck_log"].get(c.name, ""),
        }
        for c in cases
        if c.outcome not in OK_OUTCOMES
    ]
    for f in failing[:20]:
        print(f"FAIL {f['name']} [{f['mutation'] or 'valid draw'}] {f['reason']}: {f['message']}")
        if f["operator_log"]:
            print(f"     log: {f['operator_log']}")
    ready_reasons = Counter(f"{c.kind} {c.reason}" for c in cases if c.outcome == "reconciled")
    # VoiceAgents past validation and config must have a worker Deployment, quota or not
    deployments = Counter(f"{c.reason}: {c.deployment}" for c in cases if c.deployment is not None)
    admitted_mutants = [
        {"name": c.name, "mutation": c.mutation, "reason": c.reason, "message": c.message}
        for c in cases
        if c.mutation and fate(c).endswith("admitted")
    ]
    refused_valid = [
        {"name": c.name, "message": c.message}
        for c in cases
        if not c.mutation and fate(c).endswith("refused")
    ]
    result = {
        "seed": seed,
        "count": len(cases),
        "kinds": dict(Counter(c.kind for c in cases)),
        "outcomes": {f"{k} {o}": n for (k, o), n in sorted(by_kind.items())},
        "by_intent": dict(fates),
        "ready_reasons": dict(ready_reasons),
        "voiceagent_deployment_by_ready_reason": dict(deployments),
        "latency_s": latency,
        "wall_s": {**walls, "apply_s": stats.pop("apply_s")},
        **stats,
        "failing": failing,
        "mutated_but_admitted": admitted_mutants,
        "valid_draws_refused": refused_valid[:50],
        "condition_timeout_s": CONDITION_S,
    }
    return result, not failing and not stats["crashes"] and not stats["stuck"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench fuzz", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--window", type=int, default=WINDOW, help="objects in flight at once")
    parser.add_argument("--operator-log", type=Path, help="keep a copy of the operator's log")
    parser.add_argument("--replay", type=Path, help="apply these manifests (YAML) instead")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if args.replay is not None:
        docs = [d for d in yaml.safe_load_all(args.replay.read_text()) if d]
        cases = [Case(d["metadata"]["name"], d["kind"], None, None, d) for d in docs]
    else:
        cases = generate(args.count, args.seed)
    walls = {"generate_s": time.monotonic() - start}
    print(f"generated {len(cases)} manifests (seed {args.seed}) in {walls['generate_s']:.0f}s")
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        stats = run(cases, Path(tmp), args.window, args.operator_log)
    walls["total_s"] = time.monotonic() - start
    result, ok = report(cases, args.seed, walls, stats)
    blob = json.dumps([c.manifest for c in cases], sort_keys=True).encode()
    result["manifests_sha256"] = hashlib.sha256(blob).hexdigest()  # compare runs' inputs
    write("fuzz", result)
    failing = {f["name"] for f in result["failing"]}
    if failing:  # replayable: python -m bench fuzz --replay bench/results/fuzz-failing.yaml
        docs = [c.manifest for c in cases if c.name in failing]
        (RESULTS / "fuzz-failing.yaml").write_text(yaml.safe_dump_all(docs))
        print(f"wrote {RESULTS / 'fuzz-failing.yaml'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
