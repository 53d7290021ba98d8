"""The report endpoint under a hostile flood: the real operator, 10,000 POSTs a round.

Runs the real stack (control plane, livekit-server, the operator process) with two
VoiceAgents: `a`, whose reporting worker toggles a call and is timed from report to a
replicas change seen by a watch, and `b`, which is deleted and re-created first (so its old
token has an old UID) and then flooded with valid reports past its rate limit. Around them,
a seeded mix of malformed and hostile POSTs. Fails on any 500 or RSS growth >= 20 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import re
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from switchboard.api import GROUP, VERSION
from switchboard.voiceagent.reports import report_token
from switchboard_contract.report import REPORT_PATH
from urllib3.exceptions import ProtocolError

from bench.common import summary, tree_memory, write
from bench.stack import BenchStack
from bench.voiceagent_bench import manifests
from devstack.procs import poll

SEED = 20261202
PER_ROUND = 10_000
FLOOD_THREADS = 4
RSS_LIMIT_MB = 20.0
TARGET_P95_S = 1.0
NS = "bench"
Headers = list[tuple[bytes, bytes]]
GZIP = (b"Content-Encoding", b"gzip")


class Raw(str):
    """A JSON literal written as is (1e400, 3e7): not a quoted string."""


def report_json(va: str, pod: str, active: Any = 0, seq: int = 1, **extra: Any) -> bytes:
    fields = {"namespace": NS, "voiceAgent": va, "pod": pod, "activeCalls": active}
    fields.update({"capacity": 1, "seq": seq, "epoch": 1, **extra})  # extra overrides
    items = (
        f"{json.dumps(k)}: {v if isinstance(v, Raw) else json.dumps(v)}" for k, v in fields.items()
    )
    return ("{" + ", ".join(items) + "}").encode()


def post(port: int, body: bytes, headers: Headers) -> int:
    """One raw HTTP POST (bytes headers, so hostile ones go out as is); 0 on no answer."""
    head = [b"POST " + REPORT_PATH.encode() + b" HTTP/1.1", b"Host: 127.0.0.1"]
    head += [b"Connection: close", *(k + b": " + v for k, v in headers)]
    if not any(k.lower() == b"transfer-encoding" for k, _ in headers):
        head.append(b"Content-Length: %d" % len(body))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            # Refused before we finished sending (oversize)? The answer may be there anyway.
            with contextlib.suppress(OSError):
                sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
            status = sock.makefile("rb").readline().split()
            return int(status[1]) if len(status) > 1 else 0
    except OSError:
        return 0


class Worker:
    """VoiceAgent a's reporting worker: state and seq under one lock, so reordering is
    exactly what the operator's seq check sees."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active, self.seq, self.epoch = 0, 0, 1 + secrets.randbelow(2**62)

    def body(self, active: int | None = None) -> bytes:
        with self.lock:
            self.active = self.active if active is None else active
            self.seq += 1
            return report_json("a", "local-worker", self.active, self.seq, epoch=self.epoch)


class Mix:
    """The hostile mix. Each request is built from its own seeded generator, so a round is
    the same whatever the thread interleaving."""

    def __init__(self, tokens: dict[str, bytes], worker: Worker) -> None:
        self.tokens, self.worker = tokens, worker
        self.b_seq = itertools.count(1)  # next() is atomic under the GIL
        self.kinds: dict[str, tuple[int, Callable[[random.Random], tuple[bytes, Headers]]]] = {
            # a's real worker heartbeats; ~2 % of the flood is still far above its 0.2/s
            "valid_heartbeat_a": (2, lambda _: (worker.body(), self.auth("a"))),
            "flood_b": (30, lambda r: (self.valid_b(r), self.auth("b"))),
            "bad_json": (6, self.bad_json),
            "huge_numbers": (6, self.huge),
            "wrong_types": (5, self.wrong_types),
            "bad_names": (3, self.bad_names),
            "unicode_auth": (6, self.unicode_auth),
            "malformed_auth": (3, self.malformed_auth),
            "missing_auth": (3, lambda r: (self.valid_b(r), [])),
            "wrong_token": (6, lambda r: (self.valid_b(r), self.forged(r))),
            "old_uid_token": (5, lambda r: (self.valid_b(r), self.auth("b_old"))),
            "unknown_va": (3, lambda _: (report_json("ghost", "p"), self.auth("b"))),
            "oversize": (4, self.oversize),
            "gzip": (1, lambda _: (b"\x1f\x8b" + bytes(40), [*self.auth("b"), GZIP])),
        }

    def sequence(self, rng: random.Random, n: int) -> list[str]:
        names = list(self.kinds)
        return rng.choices(names, [self.kinds[k][0] for k in names], k=n)

    def build(self, kind: str, rng: random.Random) -> tuple[bytes, Headers]:
        return self.kinds[kind][1](rng)

    def auth(self, who: str) -> Headers:
        return [(b"Authorization", b"Bearer " + self.tokens[who])]

    def forged(self, rng: random.Random) -> Headers:
        return [(b"Authorization", b"Bearer " + rng.randbytes(32).hex().encode())]

    def valid_b(self, rng: random.Random, **change: Any) -> bytes:
        active, seq = change.pop("active", rng.randint(0, 1)), next(self.b_seq)
        return report_json("b", "flooder", active, change.pop("seq", seq), **change)

    def bad_json(self, rng: random.Random) -> tuple[bytes, Headers]:
        bodies = [b"{", b"\xff\xfe\x00", b"[" * 3000, b"null", b'{"a":', b"", b"{}" * 300]
        return rng.choice(bodies), self.auth("b")

    def huge(self, rng: random.Random) -> tuple[bytes, Headers]:
        actives = [Raw("3e7"), 10**30, 30_000_000, Raw("1e400"), -1]
        changes = [*({"active": a} for a in actives), {"capacity": 10**9}, {"seq": 2**64}]
        return self.valid_b(rng, **rng.choice(changes)), self.auth("b")

    def wrong_types(self, rng: random.Random) -> tuple[bytes, Headers]:
        changes = [{"draining": "yes"}, {"seq": "1"}, {"capacity": 1.5}, {"registered": 1}]
        return self.valid_b(rng, **rng.choice(changes)), self.auth("b")

    def bad_names(self, rng: random.Random) -> tuple[bytes, Headers]:
        pod = rng.choice(["\u00c9vil-pod", "UPPER", "a" * 300, "x/y", "-lead"])
        return report_json("b", pod), self.auth("b")

    def unicode_auth(self, rng: random.Random) -> tuple[bytes, Headers]:
        token = self.tokens["b"]
        values = [b"Bearer \xc3\xa9t\xc3\xa9", b"Bearer \xff\xfe", b"Bearer " + token + b"\xc3\xa9"]
        return self.valid_b(rng), [(b"Authorization", rng.choice(values))]

    def malformed_auth(self, rng: random.Random) -> tuple[bytes, Headers]:
        two = [*self.auth("b"), *self.auth("b")]
        one = [(b"Authorization", rng.choice([b"Basic dXM6cHc=", b"Bearer", b"Bearer a b"]))]
        return self.valid_b(rng), rng.choice([two, one])

    def oversize(self, rng: random.Random) -> tuple[bytes, Headers]:
        padded = self.valid_b(rng) + b" " * rng.choice([5_000, 65_536, 1_000_000])
        if rng.random() < 0.5:
            chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(padded), padded)
            return chunked, [*self.auth("b"), (b"Transfer-Encoding", b"chunked")]
        return padded, self.auth("b")


class Tickets:
    """Exactly `n` POSTs a round, shared by the flood threads and the timed worker."""

    def __init__(self, n: int) -> None:
        self.n, self.counter = n, itertools.count()  # next() is atomic under the GIL

    def take(self) -> int | None:
        i = next(self.counter)
        return i if i < self.n else None


class Replicas:
    """a-worker's spec.replicas as a watch delivers them, with when."""

    def __init__(self, apps: client.AppsV1Api) -> None:
        self.apps, self.cond = apps, threading.Condition()
        self.seen: list[tuple[float, int]] = []
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        stream = watch.Watch().stream(
            self.apps.list_namespaced_deployment,
            NS,
            field_selector="metadata.name=a-worker",
            timeout_seconds=3600,
        )
        try:
            for event in stream:
                with self.cond:
                    self.seen.append((time.monotonic(), int(event["object"].spec.replicas)))
                    self.cond.notify_all()
        except ProtocolError:
            pass  # the control plane stops under the watch when the run ends

    def current(self) -> int:
        with self.cond:
            return self.seen[-1][1] if self.seen else 0

    def moved(self, since: float, before: int, up: bool, timeout: float) -> float | None:
        """When replicas first moved past `before` in that direction after `since`."""

        def first() -> float | None:
            hits = [t for t, r in self.seen if t >= since and (r > before if up else r < before)]
            return hits[0] if hits else None

        with self.cond:
            self.cond.wait_for(lambda: first() is not None, timeout)
            return first()


def toggle(port: int, mix: Mix, replicas: Replicas, tickets: Tickets, codes: Counter[int]) -> Any:
    """Toggle a's call as its Reporter would (a refused POST is retried a poll later):
    (a call started?, seconds until the watch sees replicas move or None after 10 s);
    None when the round's POSTs ran out."""
    up = mix.worker.active == 0
    before, t0 = replicas.current(), time.monotonic()
    body = mix.worker.body(1 if up else 0)
    while tickets.take() is not None:
        codes[code := post(port, body, mix.auth("a"))] += 1
        if code == 200:
            seen = replicas.moved(t0, before, up, 10.0)
            return up, None if seen is None else seen - t0
        time.sleep(0.1)  # the agent's POLL_S
        body = mix.worker.body()
    return None


def flood_round(
    port: int, mix: Mix, replicas: Replicas, n: int, seed: int, timed: bool
) -> dict[str, Any]:
    kinds = mix.sequence(random.Random(seed), n)
    tickets, lock = Tickets(n), threading.Lock()
    codes: dict[str, Counter[int]] = {"timed_change_a": Counter()}

    def flood() -> None:
        while (i := tickets.take()) is not None:
            body, headers = mix.build(kinds[i], random.Random(seed * 100_003 + i))
            code = post(port, body, headers)
            with lock:
                codes.setdefault(kinds[i], Counter())[code] += 1

    threads = [threading.Thread(target=flood) for _ in range(FLOOD_THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    latency: dict[str, list[float]] = {"up": [], "down": []}
    missed = {"up": 0, "down": 0}
    # The timed worker has its own POST budget: sharing the flood's, a fast flood used it
    # up in seconds and a round could end with no timed toggle at all.
    while timed and any(t.is_alive() for t in threads):
        got = toggle(port, mix, replicas, Tickets(100), codes["timed_change_a"])
        if got is None:
            break
        way = "up" if got[0] else "down"
        missed[way] += got[1] is None
        latency[way] += [] if got[1] is None else [got[1]]
        time.sleep(0.2)
    for t in threads:
        t.join()
    flooded = sum(sum(c.values()) for kind, c in codes.items() if kind != "timed_change_a")
    if flooded != n:
        raise RuntimeError("a flood thread failed (its traceback is above)")
    return {"codes": codes, "latency": latency, "missed": missed, "wall_s": time.monotonic() - t0}


def setup(stack: BenchStack) -> tuple[dict[str, bytes], client.AppsV1Api]:
    """VoiceAgents a (timed) and b (re-created once, then flooded); the report tokens."""
    assert stack.api is not None
    custom, apps = client.CustomObjectsApi(stack.api), client.AppsV1Api(stack.api)
    trunk, a = manifests()
    b = {**a, "metadata": {"name": "b"}, "spec": {"pipeline": a["spec"]["pipeline"]}}

    def create(body: dict[str, Any]) -> str:
        """The new object's UID; "" while a deleted one of that name still exists."""
        plural = body["kind"].lower() + "s"
        try:
            made = custom.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)
        except ApiException as err:
            if err.status != 409:
                raise
            return ""
        return str(made["metadata"]["uid"])

    def workload_of(name: str, uid: str) -> bool:
        try:
            dep = apps.read_namespaced_deployment(f"{name}-worker", NS)
        except ApiException:
            return False
        return any(ref.uid == uid for ref in dep.metadata.owner_references or [])

    create(trunk)
    uid_a, old_b = create(a), create(b)
    poll(lambda: workload_of("a", uid_a) and workload_of("b", old_b), 120, "both Deployments")
    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "voiceagents", "b")
    uid_b = poll(lambda: create(b), 60, "b re-created")
    poll(lambda: workload_of("b", uid_b), 120, "re-created b's Deployment")
    key = stack.report_key.encode()
    who = {"a": ("a", uid_a), "b": ("b", uid_b), "b_old": ("b", old_b)}
    return {k: report_token(key, NS, va, uid).encode() for k, (va, uid) in who.items()}, apps


def settle(port: int, mix: Mix, replicas: Replicas) -> None:
    """Toggle a's call until a scale-down happens: past the operator's settling window."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = toggle(port, mix, replicas, Tickets(100), Counter())
        if got is not None and not got[0] and got[1] is not None:
            return
    raise RuntimeError("a never scaled down")


def tracebacks(log: str) -> dict[str, Any]:
    """Tracebacks in the operator's log, and their exception lines (none expected)."""
    errors = re.findall(r"^[\w.]*(?:Error|Exception)\b.*$", log, re.MULTILINE)
    return {"count": log.count("Traceback"), "errors": sorted({e[:200] for e in errors})[:10]}


def run(rounds: int, posts: int, workdir: Path) -> dict[str, Any]:
    stack = BenchStack(workdir)
    try:
        stack.start()
        assert stack.operator is not None
        tokens, apps = setup(stack)
        replicas, mix = Replicas(apps), Mix(tokens, Worker())
        port, pid = stack.report_port, stack.operator.pid
        rss = {"start": tree_memory(pid)["tree_rss_mb"]}
        warmup = flood_round(port, mix, replicas, 1000, SEED - 1, timed=False)
        settle(port, mix, replicas)
        rss["after_warmup"] = tree_memory(pid)["tree_rss_mb"]
        results = []
        for r in range(rounds):
            results.append(flood_round(port, mix, replicas, posts, SEED + r, True))
            rss[f"after_round_{r + 1}"] = tree_memory(pid)["tree_rss_mb"]
            print(f"round {r + 1}: {posts} POSTs in {results[-1]['wall_s']:.1f} s", flush=True)
        probe = stack.probe().get("decisionLatencyMs", {})
        log = stack.operator.log_path.read_text(errors="replace")
    finally:
        stack.stop()
    total: Counter[int] = Counter()
    by_kind: dict[str, Counter[int]] = {}
    for result in [warmup, *results]:
        for kind, codes in result["codes"].items():
            total.update(codes)
            by_kind.setdefault(kind, Counter()).update(codes)
    per_round = [summary(r["latency"]["up"] + r["latency"]["down"]) for r in results]
    growth = rss[f"after_round_{rounds}"] - rss["after_warmup"]
    out = {
        "posts": {"warmup": 1000, "per_round": posts, "rounds": rounds},
        "status_codes": {str(k): v for k, v in sorted(total.items())},
        "status_codes_by_kind": {
            k: {str(c): n for c, n in sorted(v.items())} for k, v in sorted(by_kind.items())
        },
        "http_500": total[500],
        "operator_rss_mb": rss,
        "rss_growth_mb": round(growth, 1),
        "report_to_replicas_s": {
            "rounds": per_round,
            "up": summary([s for r in results for s in r["latency"]["up"]]),
            "down": summary([s for r in results for s in r["latency"]["down"]]),
            "missed": {w: sum(r["missed"][w] for r in results) for w in ("up", "down")},
            "median_p50": statistics.median(p["p50"] for p in per_round),
            "median_p95": statistics.median(p["p95"] for p in per_round),
            "target_p95": TARGET_P95_S,
        },
        "posts_per_s": [round(posts / r["wall_s"]) for r in results],
        "operator_decision_ms": probe,
        "operator_log_tracebacks": tracebacks(log),
    }
    lat = out["report_to_replicas_s"]
    print(f"status codes: {out['status_codes']} (500s: {total[500]})")
    print("\n".join(f"  {k:18} {v}" for k, v in out["status_codes_by_kind"].items()))
    print(f"operator RSS MB: {rss} -> growth after warm-up {growth:+.1f} (< {RSS_LIMIT_MB})")
    print(
        f"  median p50 {lat['median_p50']:.3f} s, median p95 {lat['median_p95']:.3f} s "
        f"(target <= {TARGET_P95_S}), missed {lat['missed']}"
    )
    print(f"POSTs/s: {out['posts_per_s']}; operator log tracebacks: {tracebacks(log)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench reports", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--posts", type=int, default=PER_ROUND, help="POSTs per round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        result = run(args.rounds, args.posts, Path(tmp))
    write("reports", result)
    return 1 if result["http_500"] or result["rss_growth_mb"] >= RSS_LIMIT_MB else 0


if __name__ == "__main__":
    raise SystemExit(main())
