"""Worker -> operator load reports: what a worker POSTs whenever its active-call count changes.

Event-driven on purpose: the operator's scaler reacts to each report, instead of polling
pods every 15-30 s as HPA/KEDA do.
"""

from __future__ import annotations

from pydantic import Field

from switchboard_contract.base import Frozen

# The operator's report endpoint (the worker gets the full URL) and the bearer token
# that proves the report comes from a worker of that VoiceAgent.
ENV_REPORT_URL = "SWITCHBOARD_REPORT_URL"
ENV_REPORT_TOKEN = "SWITCHBOARD_REPORT_TOKEN"
ENV_POD_NAME = "SWITCHBOARD_POD_NAME"  # downward API: the worker's own pod name
REPORT_PATH = "/v1/reports"
REPORT_PORT = 8090
# A worker re-sends its report at least this often, so a lost POST heals quickly.
REPORT_HEARTBEAT_S = 5.0


class WorkerReport(Frozen):
    """One worker's state; the latest report per pod wins."""

    namespace: str = Field(min_length=1, description="VoiceAgent namespace")
    voice_agent: str = Field(min_length=1, description="VoiceAgent name")
    pod: str = Field(min_length=1, description="the worker's pod name (or a local process id)")
    active_calls: int = Field(ge=0)
    capacity: int = Field(ge=1, description="callsPerWorker this worker enforces")
    draining: bool = Field(default=False, description="SIGTERM received: takes no new calls")
    registered: bool = Field(default=True, description="connected to LiveKit and accepting jobs")
    seq: int = Field(default=0, ge=0, description="monotonic per process: drops reordered reports")
