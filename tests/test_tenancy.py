"""The trust model: tenancy isolated keeps the default LiveKit from unlisted namespaces,
and the workers' keys are never derived from LiveKit credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from switchboard.config import OperatorConfig
from switchboard.livekit.client import LiveKitEndpoint
from switchboard.livekit.errors import DefaultLiveKitDeniedError
from switchboard.reasons import config_failure
from switchboard.state import OperatorState

from tests.support.kube import Kube, wait_for
from tests.support.operator import OperatorProcess
from tests.support.voiceagent_stack import agent, trunk

Factory = Callable[..., OperatorProcess]
DEFAULT = {"livekit_url": "ws://lk", "livekit_api_key": "k", "livekit_api_secret": SecretStr("s")}


@pytest.mark.unit
async def test_isolated_tenancy_gives_the_default_livekit_only_to_listed_namespaces() -> None:
    isolated = OperatorConfig(**DEFAULT, tenancy="isolated", default_livekit_namespaces={"ops"})
    state = OperatorState(isolated)
    assert (await state.livekit_for("ops", None)).endpoint.url == "ws://lk"
    with pytest.raises(DefaultLiveKitDeniedError) as err:
        await state.livekit_for("team-a", None)
    why = config_failure(err.value)
    assert why.reason == "DefaultLiveKitNotAllowed" and "spec.livekit.secretRef" in why.message
    shared = OperatorState(OperatorConfig(**DEFAULT))
    assert (await shared.livekit_for("team-a", None)).endpoint.url == "ws://lk"


@pytest.mark.unit
def test_keys_are_never_derived_from_livekit_credentials() -> None:
    """Failed before: with no SWITCHBOARD_REPORT_KEY the report key was derived from the
    LiveKit API secret, which every tenant's worker holds in shared tenancy."""
    with pytest.raises(ValueError, match="SWITCHBOARD_REPORT_KEY"):
        OperatorConfig(**DEFAULT).report_hmac_key()
    assert OperatorConfig(**DEFAULT).pii_hash_key("team-a") is None
    config = OperatorConfig(**DEFAULT, pii_root_key=SecretStr("root"))
    a, b = config.pii_hash_key("team-a"), config.pii_hash_key("team-b")
    assert a and b and a != b  # per namespace: one tenant's key tests no other's hashes
    other_livekit = OperatorConfig(
        **{**DEFAULT, "livekit_api_secret": SecretStr("x")}, pii_root_key=SecretStr("root")
    )
    assert other_livekit.pii_hash_key("team-a") == a  # independent of LiveKit credentials


@pytest.mark.unit
def test_tenancy_from_env() -> None:
    config = OperatorConfig.from_env(
        {"SWITCHBOARD_TENANCY": "isolated", "SWITCHBOARD_DEFAULT_LIVEKIT_NAMESPACES": "ops, voice,"}
    )
    assert config.tenancy == "isolated"
    assert config.default_livekit_namespaces == {"ops", "voice"}


def _condition(kube: Kube, kind: str, name: str, type_: str) -> dict[str, Any] | None:
    conds = (kube.get(kind, name).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == type_), None)


@pytest.mark.k8s
@pytest.mark.livekit
@pytest.mark.usefixtures("kube_crds")
async def test_an_unlisted_namespace_must_bring_its_own_livekit(
    kube: Kube, livekit_endpoint: LiveKitEndpoint, operator_factory: Factory
) -> None:
    """Failed before: every namespace's workers got the operator's LiveKit admin key."""
    op = operator_factory(livekit_endpoint, SWITCHBOARD_TENANCY="isolated")
    kube.create(trunk())
    kube.create(agent())

    def denied(kind: str, name: str, type_: str) -> dict[str, Any] | None:
        op.check_alive()
        c = _condition(kube, kind, name, type_)
        return c if c and c["reason"] == "DefaultLiveKitNotAllowed" else None

    cond = wait_for(lambda: denied("SipTrunk", "carrier", "Ready"), "SipTrunk denied")
    assert repr(kube.namespace) in cond["message"]
    wait_for(lambda: denied("VoiceAgent", "desk", "Ready"), "VoiceAgent denied")
    # no worker Secret carrying the default credentials was written
    assert not kube.core.list_namespaced_secret(kube.namespace).items
    op.stop()
    listed = operator_factory(
        livekit_endpoint,
        log_name="listed.log",
        SWITCHBOARD_TENANCY="isolated",
        SWITCHBOARD_DEFAULT_LIVEKIT_NAMESPACES=kube.namespace,
    )

    def synced() -> bool:
        listed.check_alive()
        c = _condition(kube, "VoiceAgent", "desk", "LiveKitSynced")
        return bool(c and c["status"] == "True")

    wait_for(synced, "the listed namespace to use the default LiveKit", 90)
