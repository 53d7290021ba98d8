"""Test-suite wiring: fixture plugins per tier live in tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.tiers",
    "tests.fixtures.livekit",
    "tests.fixtures.kube",
    "tests.fixtures.operator",
    "tests.fixtures.sip",
    "tests.support.agent_livekit",
    "tests.support.chart",
    "tests.support.sip_stack",
]
