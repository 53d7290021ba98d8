"""Names at the boundary: clean names kept, changed ones hashed, nothing collides."""

from __future__ import annotations

import re

import pytest
from switchboard.names import (
    AGENT_NAME_MAX,
    DNS_LABEL_MAX,
    default_agent_name,
    dns_label,
    worker_config_name,
    worker_name,
    worker_selector,
)

pytestmark = pytest.mark.unit

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("desk", "worker"), "desk-worker"),  # clean: kept as it is
        (("front-desk", "agent-config"), "front-desk-agent-config"),
        (("a" * 56, "worker"), "a" * 56 + "-worker"),  # exactly 63
        (("a.b", "worker"), None),  # dots: cleaned, so hashed
        (("Front_Desk", "worker"), None),
        (("ünïcode", "worker"), None),
        (("a" * 57, "worker"), None),  # 64: cut, so hashed
        (("a" * 253, "worker"), None),
        (("...", "worker"), None),
    ],
)
def test_dns_label_keeps_clean_names_and_hashes_changed_ones(
    parts: tuple[str, ...], expected: str | None
) -> None:
    out = dns_label(*parts)
    assert DNS_LABEL.match(out) and len(out) <= DNS_LABEL_MAX
    if expected is not None:
        assert out == expected
    else:
        assert re.search(r"-?[0-9a-f]{8}$", out), out


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a.b", "a-b"),  # failed before: both mapped to a-b-worker
        ("a_b", "a-b"),
        ("A-b", "a-b"),
        ("x" * 60 + "1", "x" * 60 + "2"),  # long names with a common prefix
        ("x" * 100, "x" * 101),
    ],
)
def test_voiceagent_names_that_clean_alike_get_distinct_objects(first: str, second: str) -> None:
    for build in (worker_name, worker_config_name):
        assert build(first) != build(second)
    assert worker_selector(first) != worker_selector(second)


def test_a_hashed_name_cannot_equal_another_voiceagents_clean_name() -> None:
    hashed = worker_name("a.b")  # a-b-worker-<hash>
    # the VoiceAgent literally named like the hashed prefix gets its own "-worker" suffix
    assert worker_name(hashed.removesuffix("-worker")) != hashed
    assert worker_name(hashed) != hashed


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("team-a", "support"), ("team", "a-support")),  # failed before: "team-a-support"
        (("a", "b.c"), ("a.b", "c")),
        (("n" * 63, "x" * 253), ("n" * 63, "x" * 252 + "y")),  # both cut to 128
    ],
)
def test_default_agent_names_never_collide_across_namespaces(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    assert default_agent_name(*one) != default_agent_name(*other)
    for ns, name in (one, other):
        assert len(default_agent_name(ns, name)) <= AGENT_NAME_MAX


def test_default_agent_name_reads_as_namespace_slash_name() -> None:
    assert default_agent_name("tel", "front-desk") == "tel/front-desk"
