"""unit: an unexpected Kubernetes API error is retried on the pass's backoff, and says little."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from kubernetes.client.exceptions import ApiException
from switchboard import kube, reasons
from switchboard.locks import LockRegistry
from switchboard.siptrunk import handlers as siptrunk_handlers
from switchboard.voiceagent import handlers as voiceagent_handlers
from switchboard.voiceagent.fleet import Fleets
from urllib3.exceptions import MaxRetryError

from tests.support.sip_stack import sip_trunk, voice_agent

pytestmark = pytest.mark.unit

SECRET = "sk-live-do-not-log"


def overloaded() -> ApiException:
    err = ApiException(status=503, reason="Service Unavailable")
    err.body = f'{{"message": "etcd timeout writing {SECRET}"}}'
    err.headers = {"Audit-Id": SECRET}
    return err


@pytest.mark.parametrize(
    ("err", "said"),
    [
        (overloaded(), "Kubernetes API call failed: 503 Service Unavailable"),
        (ApiException(status=409, reason="Conflict"), "Kubernetes API call failed: 409 Conflict"),
        (MaxRetryError(None, f"https://{SECRET}"), "Kubernetes API call failed: MaxRetryError"),
    ],
)
def test_an_api_failure_is_named_by_its_status_line_only(err: Exception, said: str) -> None:
    assert isinstance(err, kube.API_ERRORS)
    why = reasons.kube_failure(err, retry=0)
    assert (why.reason, why.message, why.retry_s) == (reasons.KUBERNETES_API_ERROR, said, 1.0)
    assert reasons.kube_failure(err, retry=3).retry_s == 8.0
    assert reasons.kube_failure(err, retry=30).retry_s == 60.0


def body(doc: dict[str, Any]) -> kopf.Body:
    meta = {"name": "desk", "namespace": "tel", "uid": "u-1", "generation": 1}
    return kopf.Body({**doc, "metadata": meta})


class State:
    """Only what a pass reaches before its first API call: the locks and a LiveKit lookup
    that is itself an API read (a Secret) which fails."""

    def __init__(self) -> None:
        self.locks = LockRegistry()

    async def livekit_for(self, namespace: str, ref: Any) -> Any:
        raise overloaded()


async def test_the_voiceagent_pass_retries_an_api_failure_within_seconds() -> None:
    """Before: the ApiException reached kopf, which retries an unknown error after 60 s."""
    memo = kopf.Memo(state=State(), fleets=Fleets())
    doc = body(voice_agent("desk"))
    with pytest.raises(kopf.TemporaryError) as raised:
        await voiceagent_handlers._sync(doc, 2, memo, {}, {})
    assert raised.value.delay == 4.0
    assert SECRET not in str(raised.value)


async def test_the_siptrunk_pass_retries_an_api_failure_within_seconds() -> None:
    memo = kopf.Memo(state=State())
    doc = body(sip_trunk("desk"))
    with pytest.raises(kopf.TemporaryError) as raised:
        await siptrunk_handlers._sync(doc, kopf.Patch(), 0, memo)
    assert raised.value.delay == 1.0
    assert SECRET not in str(raised.value)
