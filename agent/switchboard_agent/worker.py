"""The worker process side: an AgentServer for one VoiceAgent (explicit dispatch)."""

from __future__ import annotations

from livekit.agents import AgentServer
from switchboard_contract import AgentConfig

from switchboard_agent.capacity import CallSlots
from switchboard_agent.job import entrypoint, prewarm
from switchboard_agent.settings import Runtime


def build_server(config: AgentConfig, runtime: Runtime) -> tuple[AgentServer, CallSlots]:
    """The worker: callsPerWorker warm processes, our slot guard, drain on SIGTERM."""
    slots = CallSlots(config.calls_per_worker)
    server = AgentServer(
        setup_fnc=prewarm,
        load_fnc=slots.load,
        load_threshold=1.0,
        num_idle_processes=config.calls_per_worker,
        drain_timeout=config.drain_timeout,
        host=runtime.host,
        port=runtime.http_port,
        prometheus_port=runtime.prometheus_port,
        job_memory_warn_mb=500,
    )
    slots.bind(server)
    server.rtc_session(entrypoint, agent_name=config.agent_name, on_request=slots.on_request)
    return server, slots
