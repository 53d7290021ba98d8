"""The report endpoint under hostile input: 4xx with a short reason, UID-bound tokens, limits."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import tracemalloc
from typing import Any

import pytest
from pydantic import SecretStr
from switchboard import kube
from switchboard.api.voiceagent import VoiceAgentSpec
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.scaling import ScalingParams
from switchboard.state import OperatorState
from switchboard.voiceagent import handlers
from switchboard.voiceagent.builders import agent_config
from switchboard.voiceagent.fleet import AgentFleet, Fleets, PodInfo
from switchboard.voiceagent.reports import (
    LINGER_S,
    Outcome,
    RateLimiter,
    make_app,
    report_token,
)
from switchboard.web import serve
from switchboard_agent.report import Reporter
from switchboard_contract import AgentConfig
from switchboard_contract.report import ENV_REPORT_TOKEN, REPORT_PATH

from devstack.procs import free_port
from tests.support.memory import peak_in_child
from tests.support.voiceagent_stack import agent

pytestmark = pytest.mark.unit

KEY = b"k" * 32
UID, NEW_UID = "7d0e8a52-0000-4000-8000-00000000000a", "7d0e8a52-0000-4000-8000-00000000000b"
POD = "desk-worker-1"
Response = tuple[int, dict[str, str], bytes]


def served(uid: str = UID, fleets: Fleets | None = None) -> Fleets:
    """Fleets with tel/desk served by this replica (no spec yet, so no Kubernetes calls)."""
    fleets = fleets or Fleets()
    fleet = fleets.get("tel", "desk")
    fleet.ref = {"metadata": {"name": "desk", "namespace": "tel", "uid": uid}}
    fleet.observe_pod(PodInfo(POD, True, False, None))
    fleet.own(0.0)
    return fleets


def body(**change: Any) -> bytes:
    report = {"namespace": "tel", "voiceAgent": "desk", "pod": POD, "activeCalls": 0}
    return json.dumps({**report, "capacity": 1, "seq": 1, "epoch": 7, **change}).encode()


def bearer(uid: str = UID) -> bytes:
    return b"Bearer " + report_token(KEY, "tel", "desk", uid).encode()


class Endpoint:
    """The operator's real report app on a loopback port, spoken to as raw HTTP bytes."""

    def __init__(
        self, fleets: Fleets, limiter: RateLimiter | None = None, body_timeout_s: float = 5.0
    ) -> None:
        self.fleets = fleets
        self.results: list[Outcome] = []
        app = make_app(
            KEY,
            functools.partial(handlers.report_target, fleets),
            functools.partial(handlers.on_report, fleets),
            on_result=self.results.append,
            limiter=limiter,
            body_timeout_s=body_timeout_s,
        )
        self.app, self.port = app, free_port()

    async def __aenter__(self) -> Endpoint:
        # served as the operator serves it
        self.runner = await serve(self.app, "127.0.0.1", self.port, "reports", LINGER_S)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{REPORT_PATH}"

    async def post(
        self, data: bytes, auth: list[bytes] | None = None, extra: bytes = b"", later: bytes = b""
    ) -> Response:
        auth = [bearer()] if auth is None else auth
        head = b"POST " + REPORT_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += b"Connection: close\r\n"
        head += b"".join(b"Authorization: " + a + b"\r\n" for a in auth) + extra
        if b"chunked" not in extra and b"Content-Length" not in extra:
            head += b"Content-Length: %d\r\n" % len(data)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(head + b"\r\n" + data)
        await writer.drain()
        if later:  # after the handler has started reading
            await asyncio.sleep(0.05)
            writer.write(later)
        # By Content-Length, not EOF: after an early answer aiohttp may linger on the socket.
        top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)  # a hang guard
        status_line, *lines = top.decode("latin-1").strip().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        payload = await reader.readexactly(int(headers.get("Content-Length", "0")))
        writer.close()
        return int(status_line.split()[1]), headers, payload


def refusal(response: Response, status: int) -> str:
    """The short reason of a refusal, checked to carry nothing but that reason."""
    code, _, payload = response
    assert code == status, (code, payload)
    reply = json.loads(payload)
    assert set(reply) == {"error"} and len(reply["error"]) <= 100, reply
    for leak in (b"Traceback", b"pydantic.dev", b'"input"', b"\\u"):
        assert leak not in payload, payload
    return str(reply["error"])


HOSTILE_BODIES = [
    (b"{", "body: not valid JSON"),
    (b"\xff\xfe{}", "body: not valid JSON"),
    (b"[" * 3000, "body: not valid JSON"),  # recursion limit, not a stack overflow
    (body(activeCalls=float("nan")), "activeCalls: must be a valid integer"),
    (b"[]", "body: must be an object"),
    (body(activeCalls="lots"), "activeCalls: must be a valid integer"),
    (body(activeCalls=10**30), "activeCalls: must be less than or equal to 1000"),
    (body(activeCalls=3e7), "activeCalls: must be a valid integer"),  # strict: no coercion
    (body(activeCalls="3"), "activeCalls: must be a valid integer"),
    (body(activeCalls=-5), "activeCalls: must be greater than or equal to 0"),
    (body(capacity=10**6), "capacity: must be less than or equal to 1000"),
    (body(seq=2**63), "seq: must be less than 9223372036854775808"),
    (body(pod="Evil_Pod"), "pod: must be a lowercase DNS-1123 name"),
    (body(namespace="x" * 64), "namespace: must have at most 63 characters"),
    (body(**{"\u00e9vil" * 40: 1}), "body: unknown field"),
    (body(draining={"deep": [1]}), "draining: must be a valid boolean"),
]


async def test_hostile_bodies_get_400_with_a_short_reason() -> None:
    """Before: bad JSON was a 500 (pydantic's error list held bytes, which json_response
    cannot serialize: TypeError, logged with a traceback), 10**30 a 500 (OverflowError in
    accept), 3e7 a 200 that allocated ~240 MB; other 400s echoed the input and pydantic's
    whole error list."""
    fleets = served()
    async with Endpoint(fleets) as ep:
        for data, reason in HOSTILE_BODIES:
            got = refusal(await ep.post(data), 400)
            assert got.startswith(reason), (data[:40], got)
            assert "lots" not in got and "Evil" not in got and "1000000" not in got
    assert ep.results == ["invalid"] * len(HOSTILE_BODIES)
    assert not fleets.by_key["tel", "desk"].reports


def _post_huge_active_calls() -> tuple[Response, int]:
    """Runs in a fresh interpreter (see tests/support/memory.py): the refusal and the starts."""

    async def run() -> tuple[Response, int]:
        fleets = served()
        async with Endpoint(fleets) as ep:
            tracemalloc.reset_peak()  # count the request, not the server's start
            response = await ep.post(body(activeCalls=30_000_000))
        return response, len(fleets.by_key["tel", "desk"].starts)

    return asyncio.run(run())


def test_huge_active_calls_is_refused_without_allocating() -> None:
    """Before: 200 OK after `[now] * 30_000_000` (peak ~240 MB; the chart's 256Mi OOM-kills)."""
    (response, starts), peak = peak_in_child(_post_huge_active_calls)
    assert refusal(response, 400) == "activeCalls: must be less than or equal to 1000"
    assert peak < 5_000_000, f"peak {peak} bytes"
    assert starts == 0


BAD_AUTH = [
    [b"Bearer \xc3\xa9t\xc3\xa9"],  # UTF-8
    [b"Bearer \xff\xfe"],  # not even UTF-8
    [bearer() + b"\xc3\xa9"],  # a real token with a non-ASCII tail
    [b"Basic dXNlcjpwYXNz"],
    [b"Bearer"],
    [b"Bearer a b"],
    [b"Bearer " + b"a" * 300],
    [bearer(), bearer()],  # two headers: which one would count?
]


async def test_authorization_header_is_checked_safely() -> None:
    """Before: a non-ASCII header was a 500 (TypeError from hmac.compare_digest on a str
    with non-ASCII characters, with a traceback in the operator's log)."""
    async with Endpoint(served()) as ep:
        for auth in BAD_AUTH:
            assert refusal(await ep.post(body(), auth), 400) == "Authorization: malformed"
        missing = await ep.post(body(), [])
        assert refusal(missing, 401) == "Authorization: missing"
        assert missing[1]["WWW-Authenticate"] == "Bearer"
        assert refusal(await ep.post(body(), [b"Bearer forged"]), 401) == "bad token"
        scheme = b"bearer " + bearer().removeprefix(b"Bearer ")  # the scheme is case-blind
        assert (await ep.post(body(), [scheme]))[0] == 200
    assert ep.results == ["invalid"] * len(BAD_AUTH) + ["unauthorized"] * 2 + ["accepted"]


async def test_oversize_and_encoded_bodies_are_refused_unread() -> None:
    """Before: a 5 KB report (padded with spaces) was accepted (the limit was 64 KiB), and a
    gzip body would have been inflated."""
    padded = body() + b" " * 5000
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(padded), padded)
    async with Endpoint(served()) as ep:
        assert refusal(await ep.post(padded), 413) == "body: too large"
        chunked = await ep.post(chunk, extra=b"Transfer-Encoding: chunked\r\n")
        assert refusal(chunked, 413) == "body: too large"
        gzip = await ep.post(body(), extra=b"Content-Encoding: gzip\r\n")
        assert refusal(gzip, 400) == "Content-Encoding: not accepted"
    assert ep.results == ["invalid"] * 3


async def test_broken_framing_is_refused_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """HTTP aiohttp itself cannot parse: 400, and one log line naming the error, not a
    traceback per request (a flood of them would bury the operator's log); a body that never
    completes: 408. Before: an ERROR with a 3-exception traceback for each undecodable gzip
    body or broken chunk, and a stalled body held its handler (and connection) forever."""
    async with Endpoint(served(), body_timeout_s=0.2) as ep:
        gzip = b"Content-Encoding: gzip\r\n"
        assert (await ep.post(b"\x1f\x8b" + bytes(40), extra=gzip))[0] == 400
        chunked = b"Transfer-Encoding: chunked\r\n"
        assert (await ep.post(b"zz\r\nabc\r\n", extra=chunked))[0] == 400
        # Broken after the headers: aiohttp reports it only after the handler, which gives up
        # on the body as it would on a client that stalls (slowloris), so neither holds on.
        broken_late = await ep.post(b"1\r\n{\r\n", extra=chunked, later=b"zz\r\n\r\n")
        assert refusal(broken_late, 408) == "body: incomplete"
        stalled = await ep.post(b"{", extra=b"Content-Length: 300\r\n")
        assert refusal(stalled, 408) == "body: incomplete"
    # the gzip body and the chunk broken before the handler ran never reached the app
    assert ep.results == ["invalid", "invalid", "invalid"]
    records = [r for r in caplog.records if r.name.startswith("switchboard.web")]
    assert records and not any(r.exc_info or r.levelno >= logging.WARNING for r in records)
    assert all("zz" not in r.getMessage() for r in records)


async def test_a_restarted_worker_is_counted_busy_at_once() -> None:
    """The worker's real Reporter, restarted: a new process, seq from 1, a call already up.
    Before: its report was dropped as older than seq 500 (yet answered 200 and counted
    accepted), so the busy worker stayed idle and first in line for scale-down: busy == 0."""
    fleets = served()
    config = AgentConfig.model_validate(
        {
            "agentName": "tel-desk",
            "voiceAgent": {"namespace": "tel", "name": "desk"},
            "instructions": "x",
            "realtime": {"provider": "openai"},
        }
    )
    token = report_token(KEY, "tel", "desk", UID)
    async with Endpoint(fleets) as ep:
        before = Reporter(ep.url, token, config, POD, lambda: 0, lambda: False)
        before.seq = 499
        assert await asyncio.to_thread(before.send, before.report())
        after = Reporter(ep.url, token, config, POD, lambda: 1, lambda: False)
        assert await asyncio.to_thread(after.send, after.report())
    fleet = fleets.by_key["tel", "desk"]
    (worker,) = fleet.workers(now=fleet.reports[POD][1])
    assert worker.active_calls == 1 and worker.idle_since is None
    assert ep.results == ["accepted", "accepted"]


async def test_a_stale_report_is_counted_as_rejected() -> None:
    """Before: 200 and counted "accepted" although the fleet dropped it."""
    fleets = served()
    async with Endpoint(fleets) as ep:
        assert (await ep.post(body(seq=5, activeCalls=1)))[0] == 200
        assert refusal(await ep.post(body(seq=4)), 409) == "stale report"
    assert ep.results == ["accepted", "stale"]
    assert fleets.by_key["tel", "desk"].reports[POD][0].active_calls == 1


async def test_a_recreated_voiceagent_refuses_the_old_token() -> None:
    """Same namespace and name, new UID. Before: the token was HMAC(namespace/name), the
    same for both, so the deleted VoiceAgent's workers (or a leaked token) still counted."""
    fleets = served(UID)
    async with Endpoint(fleets) as ep:
        assert (await ep.post(body(seq=1), [bearer(UID)]))[0] == 200
        fleets.drop("tel", "desk")  # voiceagent_delete
        served(NEW_UID, fleets)  # the re-created one's handlers record its UID
        assert refusal(await ep.post(body(seq=2), [bearer(UID)]), 401) == "bad token"
        assert (await ep.post(body(seq=3), [bearer(NEW_UID)]))[0] == 200
    assert ep.results == ["accepted", "unauthorized", "accepted"]


async def test_unknown_and_standby_answer_without_a_token_check() -> None:
    """An unknown VoiceAgent looks like a bad token (no existence oracle); a replica serving
    nothing sends the worker elsewhere at once."""
    async with Endpoint(served()) as ep:
        ghost = body(voiceAgent="ghost")
        assert refusal(await ep.post(ghost, [b"Bearer forged"]), 401) == "bad token"
    async with Endpoint(Fleets()) as standby:
        response = await standby.post(body())
        assert refusal(response, 503) == "standby replica"
        assert response[1]["Retry-After"] == "1"
    assert ep.results == ["unknown"] and standby.results == ["standby"]


async def test_a_flood_is_rate_limited_per_voiceagent() -> None:
    """Before: no limit; every valid report ran a scaling decision (Kubernetes writes)."""
    now = [0.0]
    fleets = served()  # one worker pod: burst 100 + 2, refill 50 + 1 per second
    async with Endpoint(fleets, RateLimiter(clock=lambda: now[0])) as ep:
        for _ in range(200):
            assert (await ep.post(body(), [b"Bearer forged"]))[0] == 401  # spends nothing
        codes = [(await ep.post(body(seq=i)))[0] for i in range(103)]
        assert codes == [200] * 102 + [429]
        limited = await ep.post(body(seq=200))
        assert refusal(limited, 429) == "too many reports"
        assert limited[1]["Retry-After"] == "1"
        now[0] += 1 / 51  # one report's worth of refill
        assert (await ep.post(body(seq=201)))[0] == 200
    assert ep.results.count("limited") == 2 and ep.results.count("accepted") == 103


def test_token_bucket_refills_up_to_its_burst() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.admit(("a", "b"), 10.0, 2.0) for _ in range(3)] == [0.0, 0.0, 0.1]
    now[0] = 100.0  # a long pause refills to the burst, not beyond
    assert [limiter.admit(("a", "b"), 10.0, 2.0) == 0.0 for _ in range(3)] == [True, True, False]
    assert limiter.admit(("a", "other"), 10.0, 2.0) == 0.0  # each VoiceAgent its own bucket


async def test_the_worker_secret_carries_a_token_bound_to_the_uid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """_apply_workload is where the token is minted. Before: HMAC(namespace/name) only."""
    applied: list[dict[str, Any]] = []

    async def apply(manifest: dict[str, Any]) -> None:
        applied.append(manifest)

    async def replicas(namespace: str, name: str) -> int:
        return 1

    monkeypatch.setattr(kube, "apply_owned", apply)
    monkeypatch.setattr(kube, "deployment_replicas", replicas)
    state = OperatorState(OperatorConfig(report_key=SecretStr(KEY.decode())))
    spec = VoiceAgentSpec.model_validate(agent()["spec"])
    meta = {"name": "desk", "namespace": "tel", "uid": NEW_UID}
    body_ = {"apiVersion": "switchboard.dev/v1alpha1", "kind": "VoiceAgent", "metadata": meta}
    await handlers._apply_workload(
        state,
        AgentFleet(("tel", "desk")),
        ScalingParams.from_spec(spec.scaling),
        body_,  # type: ignore[arg-type]
        spec,
        agent_config("tel", "desk", spec, spec.instructions),
        LiveKitEndpoint("http://lk", "key", "secret"),
    )
    (secret,) = [m for m in applied if m["kind"] == "Secret"]
    assert secret["stringData"][ENV_REPORT_TOKEN] == report_token(KEY, "tel", "desk", NEW_UID)
