"""Test-suite wiring: the fixture plugins in tests/fixtures/ (helpers are in tests/support/)."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.tiers",
    "tests.fixtures.livekit",
    "tests.fixtures.kube",
    "tests.fixtures.operator",
    "tests.fixtures.sip",
    "tests.fixtures.agent",
    "tests.fixtures.chart",
    "tests.fixtures.gateway",
    "tests.fixtures.browser",
    "tests.fixtures.node",
]
