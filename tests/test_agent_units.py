"""Unit tests of the worker's pieces: caller info, persona tools, PII log filter, call slots."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from livekit.agents import ToolError
from switchboard_agent.__main__ import main
from switchboard_agent.caller_id import CallerInfo, hash_value
from switchboard_agent.capacity import CallSlots
from switchboard_agent.job import build_session
from switchboard_agent.persona import SwitchboardAgent, render_instructions
from switchboard_agent.providers import ProviderConfigError, build_pipeline
from switchboard_agent.redact import PiiLogFilter
from switchboard_agent.settings import Runtime, load_config
from switchboard_agent.telemetry import traces_url
from switchboard_agent.worker import build_server
from switchboard_contract import AgentConfig

from tests.support.agent_configs import offline_config, offline_config_doc

pytestmark = pytest.mark.unit

NUMBER = "+15550001234"
SIP = CallerInfo(
    identity=f"sip_{NUMBER}",
    is_sip=True,
    call_id="SCL_1",
    trunk_id="ST_1",
    trunk_phone_number="+15559990000",
    phone_number=NUMBER,
)


def test_caller_hashes_and_redacts(monkeypatch: Any) -> None:
    monkeypatch.setenv("SWITCHBOARD_PII_HASH_KEY", "k1")
    assert SIP.number_hash == hash_value(NUMBER, "k1") and NUMBER not in SIP.number_hash
    assert hash_value(NUMBER, "k1") != hash_value(NUMBER, "k2")  # keyed: no brute force
    monkeypatch.delenv("SWITCHBOARD_PII_HASH_KEY")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s")
    # failed before: the LiveKit secret keyed the hash, and every tenant's worker holds it
    assert SIP.number_hash != hash_value(NUMBER, "s")
    fields = SIP.log_fields()
    assert NUMBER not in repr(fields) and NUMBER not in repr(SIP)
    assert fields["sip_call_id"] == "SCL_1"
    assert NUMBER not in SIP.llm_context(redact=True)
    assert "1234" in SIP.llm_context(redact=True)
    assert NUMBER in SIP.llm_context(redact=False)


def test_instructions_come_from_the_template() -> None:
    cfg = offline_config()
    text = render_instructions(cfg, SIP)
    assert text.startswith(cfg.instructions)
    assert "transfer_call" in text and "frontdesk" in text
    assert "sip:" not in text  # targets by name only
    assert NUMBER not in text


class _Ctx:
    def __init__(self) -> None:
        self.played = False

    async def wait_for_playout(self) -> None:
        self.played = True


async def test_transfer_tool_refers_to_the_configured_uri() -> None:
    calls: list[tuple[str, str]] = []

    async def transfer(identity: str, uri: str) -> None:
        calls.append((identity, uri))

    agent = SwitchboardAgent(config=offline_config(), caller=SIP, transfer=transfer)
    assert {t.id for t in agent.tools} >= {"transfer_call", "end_call"}
    ctx: Any = _Ctx()
    await agent.transfer_call(ctx, "frontdesk")
    assert calls == [(SIP.identity, "sip:frontdesk@127.0.0.1")] and ctx.played
    with pytest.raises(ToolError, match="unknown transfer target"):
        await agent.transfer_call(ctx, "nowhere")
    web = CallerInfo(identity="web", is_sip=False)
    agent = SwitchboardAgent(config=offline_config(), caller=web, transfer=transfer)
    with pytest.raises(ToolError, match="phone"):
        await agent.transfer_call(ctx, "frontdesk")


def test_no_transfer_tool_without_targets() -> None:
    doc = offline_config_doc(transferTargets=[])
    doc["pipeline"]["llm"]["script"]["intents"] = []
    agent = SwitchboardAgent(config=AgentConfig.model_validate(doc), caller=SIP)
    assert "transfer_call" not in {t.id for t in agent.tools}


def test_pii_log_filter() -> None:
    f = PiiLogFilter()
    f.add_sensitive(SIP.identity, NUMBER)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", (NUMBER,), None)
    record.__dict__["participant"] = SIP.identity
    record.__dict__["lk.pii.user_transcript"] = "my card is 4242"
    assert f.filter(record)
    text = repr(record.__dict__) + record.getMessage()
    assert NUMBER.lstrip("+") not in text and "4242" not in text


class _Server:
    def __init__(self) -> None:
        self.active_jobs: list[object] = []
        self.draining = False
        self._closed = False


class _Request:
    def __init__(self, server: _Server, delay: float) -> None:
        self.id = "job"
        self.server, self.delay = server, delay
        self.result: str | None = None

    async def accept(self, **_: Any) -> None:
        await asyncio.sleep(self.delay)  # assignment round trip
        self.server.active_jobs.append(self)
        self.result = "accepted"

    async def reject(self, *, terminate: bool = True) -> None:
        self.result = "rejected"


@pytest.mark.parametrize("limit", [1, 2])
async def test_call_slots_never_overbook(limit: int) -> None:
    server = _Server()
    slots = CallSlots(limit)
    slots.bind(server)  # type: ignore[arg-type]
    requests = [_Request(server, 0.05) for _ in range(5)]
    await asyncio.gather(*(slots.on_request(r) for r in requests))  # type: ignore[arg-type]
    assert [r.result for r in requests].count("accepted") == limit
    assert slots.load(server) == 1.0  # type: ignore[arg-type]
    server.active_jobs.clear()
    assert slots.load(server) == 0.0  # type: ignore[arg-type]
    server.draining = True
    late = _Request(server, 0)
    await slots.on_request(late)  # type: ignore[arg-type]
    assert late.result == "rejected"


def test_load_report_composes_with_livekit_reservations() -> None:
    """livekit-agents adds reserved (accepted, not launched) jobs on top of load_fnc.

    Pins that contract on the installed version: with callsPerWorker 2 and one job
    pending, the worker must still be available for the second one, and full at two.
    """
    config = AgentConfig.model_validate(offline_config_doc(callsPerWorker=2))
    server, slots = build_server(config, Runtime(host="127.0.0.1", http_port=0))
    # what AgentServer.run() sets up, minus the processes and the connection
    server._proc_pool = SimpleNamespace(processes=[])  # type: ignore[assignment]
    server._devmode = False
    for pending, available in [(0, True), (1, True), (2, False)]:
        slots._pending = server._reserved_slots = pending
        server._worker_load = slots.load(server)
        assert server._is_available() is available, pending


def test_settings_from_env(tmp_path: Any) -> None:
    path = tmp_path / "c.json"
    path.write_text(offline_config().model_dump_json())
    cfg = load_config({"SWITCHBOARD_AGENT_CONFIG": str(path)})
    assert cfg == offline_config()
    assert Runtime.from_env({}) == Runtime(host="", http_port=8081, prometheus_port=9464)
    assert Runtime.from_env({"SWITCHBOARD_HTTP_PORT": "1"}).http_port == 1


def test_traces_url() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces/") == "http://c:4318/v1/traces"


def test_main_fails_fast_without_a_provider_key(tmp_path: Any, monkeypatch: Any) -> None:
    doc = offline_config_doc()
    doc["pipeline"]["stt"] = {"provider": "deepgram", "model": "nova-3"}
    path = tmp_path / "c.json"
    path.write_text(AgentConfig.model_validate(doc).model_dump_json())
    monkeypatch.setenv("SWITCHBOARD_AGENT_CONFIG", str(path))
    monkeypatch.delenv("SWITCHBOARD_SECRET_STT", raising=False)
    with pytest.raises(ProviderConfigError, match="SWITCHBOARD_SECRET_STT"):
        main([])


@pytest.mark.parametrize("realtime", [False, True])
async def test_session_is_built_from_config(realtime: bool) -> None:
    doc = offline_config_doc()
    if realtime:
        doc.pop("pipeline")
        doc["realtime"] = {"provider": "openai", "model": "gpt-realtime", "voice": "marin"}
    cfg = AgentConfig.model_validate(doc)
    env = {"SWITCHBOARD_SECRET_REALTIME": "k"}
    session = build_session(cfg, build_pipeline(cfg.pipeline, cfg.realtime, env), vad=None)
    assert (session.stt is None) == realtime and (session.tts is None) == realtime
    assert session.llm is not None
