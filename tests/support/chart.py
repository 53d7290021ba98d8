"""Rendering the Helm chart for tests: `helm template` output as dicts, picked by kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack import kube as devkube
from devstack import tools
from tests.fixtures.tiers import require_binary


@pytest.fixture(scope="module")
def helm() -> Path:
    return require_binary(tools.helm(), "helm")


def render(*values: str, release: str = "switchboard", ns: str = "switchboard") -> list[dict]:
    return devkube.render_chart(release, ns, *values)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def env_of(docs: list[dict]) -> dict[str, Any]:
    """The operator container's env, name -> value (or valueFrom)."""
    (dep,) = by_kind(docs, "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
