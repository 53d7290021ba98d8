"""unit tier (helm template): the SIP-over-WebSocket SBC behind sbc.enabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import kube as devkube
from tests.support.chart import by_kind, render
from tests.test_chart_static import LIVEKIT, restricted_violations

pytestmark = pytest.mark.unit

SBC = ("sbc.enabled=true", "sbc.livekitSip=switchboard-sip.voice.svc:5060")


def named(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def test_sbc_is_off_by_default(helm: Path) -> None:
    assert not [d for d in render(*LIVEKIT) if d["metadata"]["name"].endswith("-sbc")]


def test_sbc_config_pod_and_service(helm: Path) -> None:
    docs = render(*LIVEKIT, *SBC, "sbc.domain=phones.example.test", release="sb", ns="voice")
    config = named(docs, "ConfigMap", "sb-switchboard-sbc")["data"]["kamailio.cfg"]
    header = config.split("\n## ", 1)[0].splitlines()
    assert header == [
        "#!KAMAILIO",
        "#!defenv POD_IP",
        "#!define WS_PORT 8080",
        "#!define SIP_PORT 5080",
        '#!define LIVEKIT_SIP "switchboard-sip.voice.svc:5060"',
        '#!define RTPENGINE "udp:127.0.0.1:2223"',
        '#!define DOMAIN "phones.example.test"',
        "#!define MAX_EXPIRES 600",
    ]
    body = (devkube.CHART / "files" / "kamailio.cfg").read_text()
    assert config.endswith(body)  # the values above, then the one config file
    # a caller's own channel header is dropped before the SBC's goes on
    assert config.index('remove_hf("X-Switchboard-Channel")') < config.index(
        'append_hf("X-Switchboard-Channel: sipws\\r\\n")'
    )

    dep = named(docs, "Deployment", "sb-switchboard-sbc")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    pod = dep["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False and "hostNetwork" not in pod
    kamailio, rtpengine = pod["containers"]
    assert kamailio["command"] == ["kamailio"] and rtpengine["command"] == ["rtpengine"]
    assert "--table=-1" in rtpengine["args"]  # userspace media: no kernel module, no privilege
    assert "--interface=$(POD_IP)" in rtpengine["args"]
    for container in (kamailio, rtpengine):
        (env,) = container["env"]
        assert env == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    svc = named(docs, "Service", "sb-switchboard-sbc")
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("ws", 8080)]
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_sbc_host_network_and_advertised_media_address(helm: Path) -> None:
    docs = render(
        *LIVEKIT, *SBC, "sbc.hostNetwork=true", "sbc.rtpengine.advertiseAddress=203.0.113.10"
    )
    pod = named(docs, "Deployment", "switchboard-sbc")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "--interface=$(POD_IP)!203.0.113.10" in pod["containers"][1]["args"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("sbc.enabled=true",), "sbc.livekitSip"),
        ((*SBC, "sbc.rtpengine.portMin=50000", "sbc.rtpengine.portMax=40000"), "portMin"),
        ((*SBC, "sbc.livekitSip=not a host"), "livekitSip"),
        ((*SBC, "sbc.domain=Bad_Domain"), "domain"),
    ],
)
def test_bad_sbc_values_name_the_value(helm: Path, values: tuple[str, ...], message: str) -> None:
    with pytest.raises(devkube.KubeError, match=message):
        render(*LIVEKIT, *values)
