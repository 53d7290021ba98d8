"""Outbound calls in the job: claim the call with the operator, dial, report the outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from livekit import api
from pydantic import ValidationError
from switchboard_contract import AgentConfig
from switchboard_contract.outbound import (
    CALLS_PATH,
    CallEvent,
    CallReport,
    OutboundDial,
    Result,
    classify,
)
from switchboard_contract.report import ENV_REPORT_TOKEN, ENV_REPORT_URL, REPORT_PATH

from switchboard_agent.report import post_json

logger = logging.getLogger("switchboard.agent.outbound")

# The operator may be restarting: keep claiming this long, then give the call up undialled
# (the operator dispatches it again; nothing was dialled, so nothing is dialled twice).
CLAIM_DEADLINE_S = 60.0
# Outcome reports sent from the entrypoint outlast an operator restart; the one sent from
# a shutdown callback must fit the job's shutdown budget (livekit-agents: 10 s), and the
# operator closes such a call itself once its room is gone.
OUTCOME_DEADLINE_S = 60.0
SHUTDOWN_REPORT_S = 8.0
RETRY_S = (0.1, 0.2, 0.5, 1.0)
CALLEE_IDENTITY = "callee"


def dial_of(metadata: str) -> OutboundDial | None:
    """The job's outbound call, or None for an inbound job (whose metadata is the rule's)."""
    try:
        data = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    if not isinstance(data, dict) or "sipTrunkId" not in data:
        return None
    try:
        return OutboundDial.model_validate(data)
    except ValidationError as err:
        # the operator wrote it: a mismatch is a version skew, say so without the values
        fields = [".".join(map(str, e["loc"])) for e in err.errors(include_input=False)]
        logger.error("outbound dispatch metadata refused: %s", ", ".join(fields))
        return None


@dataclass
class CallReporter:
    """POSTs this job's CallReports to the operator, in order, retrying transient failures."""

    url: str
    token: str
    config: AgentConfig
    dial: OutboundDial
    job_id: str
    _lock: asyncio.Lock | None = None

    @classmethod
    def from_env(
        cls, config: AgentConfig, dial: OutboundDial, job_id: str, env: Mapping[str, str] | None
    ) -> CallReporter | None:
        env = os.environ if env is None else env
        url = env.get(ENV_REPORT_URL)
        if not url:
            return None
        base = url.removesuffix(REPORT_PATH)
        return cls(base + CALLS_PATH, env.get(ENV_REPORT_TOKEN, ""), config, dial, job_id)

    def _post(self, report: CallReport) -> int:
        return post_json(self.url, self.token, report.model_dump_json().encode())

    async def send(
        self,
        event: CallEvent,
        deadline_s: float,
        *,
        result: Result | None = None,
        sip_status: int | None = None,
        sip_call_id: str | None = None,
        answered_at: float | None = None,
    ) -> int:
        """The operator's answer (200 accepted; 409 not ours to dial; 0 nobody answered)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        report = CallReport(
            namespace=self.config.voice_agent.namespace,
            voice_agent=self.config.voice_agent.name,
            call=self.dial.call,
            job_id=self.job_id,
            event=event,
            at=time.time(),
            result=result,
            sip_status=sip_status,
            sip_call_id=sip_call_id,
            answered_at=answered_at,
        )
        deadline = time.monotonic() + deadline_s
        async with self._lock:
            for attempt in range(10_000):
                status = await asyncio.to_thread(self._post, report)
                transient = status in (0, 408, 429) or status >= 500
                if not transient or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
        if status != 200:
            logger.warning("call report %s: operator answered %d", event, status)
        return status


@dataclass(frozen=True)
class DialOutcome:
    result: Result
    sip_status: int | None
    sip_call_id: str | None
    answered_at: float | None


async def place_call(lk: api.LiveKitAPI, room: str, dial: OutboundDial) -> DialOutcome:
    """CreateSIPParticipant, waiting for the answer; a refusal becomes its result and code."""
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=dial.sip_trunk_id,
        sip_call_to=dial.to,
        sip_number=dial.from_number or "",
        room_name=room,
        participant_identity=CALLEE_IDENTITY,
        wait_until_answered=True,
        ringing_timeout=Duration(seconds=int(dial.ringing_timeout_s)),
        max_call_duration=Duration(seconds=int(dial.max_call_duration_s)),
    )
    try:
        info = await lk.sip.create_sip_participant(request)
    except api.SipCallError as err:
        code = err.sip_status_code
        return DialOutcome(classify(code), code, None, None)
    except api.TwirpError as err:
        # The ring window running out has no SIP final here: LiveKit answers Twirp
        # `canceled` with HTTP 408 "sip request timed out" (the callee saw our CANCEL).
        logger.info("dial failed: twirp %s (HTTP %s)", err.code, err.status)
        if err.status == 408 or "timed out" in err.message:
            return DialOutcome("no-answer", 408, None, None)
        return DialOutcome("failed", None, None, None)
    return DialOutcome("answered", 200, info.sip_call_id or None, time.time())
