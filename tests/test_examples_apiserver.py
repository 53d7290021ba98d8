"""Every manifest in examples/ applies cleanly to the real kube-apiserver once the CRDs exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.tools import REPO
from tests.support.kube import Kube, load_yaml

pytestmark = [pytest.mark.k8s, pytest.mark.usefixtures("kube_crds")]

EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(REPO)) for p in EXAMPLES])
def test_example_applies(kube: Kube, path: Path) -> None:
    docs = load_yaml(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        kube.apply(doc, dry_run=True)
    for doc in docs:
        applied = kube.apply(doc)
        assert applied.metadata.name == doc["metadata"]["name"]
        if doc["kind"] in ("SipTrunk", "VoiceAgent"):
            assert applied.metadata.generation == 1
