"""Worker -> operator load reports: what a worker POSTs whenever its active-call count changes.

Event-driven on purpose: the operator's scaler reacts to each report, instead of polling
pods every 15-30 s as HPA/KEDA do.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from switchboard_contract.base import Frozen
from switchboard_contract.config import DNS_LABEL_PATTERN

# The operator's report endpoint (the worker gets the full URL) and the bearer token
# that proves the report comes from a worker of that VoiceAgent.
ENV_REPORT_URL = "SWITCHBOARD_REPORT_URL"
ENV_REPORT_TOKEN = "SWITCHBOARD_REPORT_TOKEN"
ENV_POD_NAME = "SWITCHBOARD_POD_NAME"  # downward API: the worker's own pod name
REPORT_PATH = "/v1/reports"
REPORT_PORT = 8090
# A worker re-sends its report at least this often, so a lost POST heals quickly.
REPORT_HEARTBEAT_S = 5.0

# Bounds a hostile or buggy sender cannot exceed: the operator allocates per call start, and
# callsPerWorker is at most 100 in the API, so 1000 leaves room without being a lever.
MAX_CALLS = 1000
SEQ_LIMIT = 2**63  # seq and epoch fit a signed 64-bit integer on any implementation
_LABEL = DNS_LABEL_PATTERN.removeprefix("^").removesuffix("$")
DNS_SUBDOMAIN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
# Kubernetes' own limits: a namespace is a DNS-1123 label; object names are subdomains.
DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]
DnsSubdomain = Annotated[str, StringConstraints(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]


class WorkerReport(Frozen):
    """One worker's state; the latest report per pod wins."""

    # No coercion ("3" or 3e7 for a count, "yes" for a flag): a worker sends exact JSON
    # types, so anything else is a bug or an attack, and is refused rather than guessed at.
    model_config = ConfigDict(strict=True)

    namespace: DnsLabel = Field(description="VoiceAgent namespace")
    voice_agent: DnsSubdomain = Field(description="VoiceAgent name")
    pod: DnsSubdomain = Field(description="the worker's pod name (or a local process id)")
    active_calls: int = Field(ge=0, le=MAX_CALLS)
    capacity: int = Field(ge=1, le=MAX_CALLS, description="callsPerWorker this worker enforces")
    draining: bool = Field(default=False, description="SIGTERM received: takes no new calls")
    registered: bool = Field(default=True, description="connected to LiveKit and accepting jobs")
    seq: int = Field(
        default=0, ge=0, lt=SEQ_LIMIT, description="monotonic per epoch: drops reordered reports"
    )
    epoch: int = Field(
        default=0,
        ge=0,
        lt=SEQ_LIMIT,
        description="chosen once per reporting process; a new one restarts seq (0: unknown)",
    )
