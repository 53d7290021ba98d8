"""The OutboundCall/CallCampaign CRDs on the real API server: admission and printer columns."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException

from tests.support.kube import GROUP, VERSION, Kube, rejection
from tests.support.outbound import campaign, outbound_call

pytestmark = pytest.mark.k8s


def test_a_call_needs_an_e164_number_and_its_spec_is_immutable(
    kube: Kube, kube_crds: list[str]
) -> None:
    with pytest.raises(ApiException) as bad:
        kube.create(outbound_call("bad", "555-0100"))
    assert "spec.to" in rejection(bad.value)
    kube.create(outbound_call("good", "+15557770100"))
    with pytest.raises(ApiException) as edit:
        kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "outboundcalls", "good", {"spec": {"to": "+1555"}}
        )
    assert "spec is immutable" in rejection(edit.value)


def test_a_campaign_admits_bad_rows_for_the_operator_to_report(
    kube: Kube, kube_crds: list[str]
) -> None:
    """Rows are not validated at admission: one bad row must not refuse the whole list."""
    doc = campaign("c", ["+15557770100", "not-a-number"], maxConcurrentCalls=5)
    assert kube.create(doc, dry_run=True)["spec"]["targets"][1]["to"] == "not-a-number"
    with pytest.raises(ApiException) as bad:
        kube.create(campaign("c", [], maxConcurrentCalls=0))
    assert "spec.maxConcurrentCalls" in rejection(bad.value)


def test_printer_columns_show_the_masked_number(kube: Kube, kube_crds: list[str]) -> None:
    ext = kube.dynamic.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    crd = ext.get(name=f"outboundcalls.{GROUP}")
    columns = {c["name"]: c["jsonPath"] for c in crd.spec.versions[0].additionalPrinterColumns}
    assert columns == {
        "To": ".status.toMasked",
        "Agent": ".spec.voiceAgentRef.name",
        "Phase": ".status.phase",
        "Result": ".status.result",
        "Duration": ".status.duration",
        "Age": ".metadata.creationTimestamp",
    }
    assert crd.spec.names.shortNames == ["oc"]


def test_call_context_is_kept_not_pruned(kube: Kube, kube_crds: list[str]) -> None:
    """The agent's call metadata survives admission (an object schema without its values'
    schema would have the apiserver prune every key), and a bad key is refused."""
    made = kube.create(outbound_call("ctx", "+15557770100", context={"slot": "10am"}))
    assert made["spec"]["context"] == {"slot": "10am"}
    row = {"to": "+15557770100", "context": {"slot": "9am"}}
    doc = campaign("rows", [], maxConcurrentCalls=1)
    doc["spec"]["targets"] = [row]
    assert kube.create(doc, dry_run=True)["spec"]["targets"][0]["context"] == {"slot": "9am"}
    with pytest.raises(ApiException) as bad:
        kube.create(outbound_call("badctx", "+15557770100", context={"no spaces": "x"}))
    assert "keys must match" in rejection(bad.value)
