"""Bad references with the real operator: each one a condition and an event naming it."""

from __future__ import annotations

from typing import Any

import pytest
from switchboard.livekit.client import LiveKitEndpoint

from tests.support.kube import Kube, wait_for
from tests.support.outbound import campaign, outbound_call
from tests.support.voiceagent_stack import Factory, Stack, agent, trunk

pytestmark = [pytest.mark.k8s, pytest.mark.livekit, pytest.mark.usefixtures("kube_crds")]


@pytest.fixture
def stack(kube: Kube, livekit_endpoint: LiveKitEndpoint, operator_factory: Factory) -> Stack:
    return Stack(operator_factory, livekit_endpoint, kube)


def ready(stack: Stack, kind: str, name: str) -> dict[str, Any] | None:
    stack.op.check_alive()
    status = stack.kube.get(kind, name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)


def wait_reason(stack: Stack, kind: str, name: str, reason: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cond = ready(stack, kind, name)
        return cond if cond and cond["reason"] == reason else None

    return wait_for(check, f"{kind} {name} Ready reason {reason}", 60)


def test_missing_trunk_no_outbound_and_another_namespace_are_named(stack: Stack) -> None:
    stack.kube.create(trunk("inbound-only"))  # no spec.outbound
    stack.kube.create(agent())
    stack.kube.create(outbound_call("no-trunk", "+15557770100", trunk="nowhere"))
    stack.kube.create(outbound_call("no-out", "+15557770101", trunk="inbound-only"))
    other = outbound_call("elsewhere", "+15557770102", trunk="inbound-only")
    other["spec"]["voiceAgentRef"]["namespace"] = "someone-else"
    stack.kube.create(other)
    assert (
        "'nowhere' not found"
        in wait_reason(stack, "OutboundCall", "no-trunk", "TrunkNotFound")["message"]
    )
    wait_reason(stack, "OutboundCall", "no-out", "TrunkHasNoOutbound")
    cross = wait_reason(stack, "OutboundCall", "elsewhere", "CrossNamespaceRef")
    assert "someone-else" in cross["message"]
    assert stack.kube.get("OutboundCall", "elsewhere")["status"]["phase"] == "Failed"
    for name in ("no-trunk", "no-out"):
        status = stack.kube.get("OutboundCall", name)["status"]
        assert status["phase"] == "Pending" and status["toMasked"].startswith("+1555•••")
    stack.kube.create(campaign("camp", ["+15557770103"], trunkRef={"name": "inbound-only"}))
    wait_reason(stack, "CallCampaign", "camp", "TrunkHasNoOutbound")
    reasons = {e.reason for e in stack.kube.core.list_namespaced_event(stack.kube.namespace).items}
    assert {"TrunkNotFound", "TrunkHasNoOutbound"} <= reasons
    assert "5557770" not in stack.op.text()
