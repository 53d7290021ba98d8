"""The server-side apply body: JSON the apply YAML decoder takes, whatever the strings hold."""

from __future__ import annotations

import json
import re

import pytest
from switchboard.kube.writes import apply_body

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value",
    ["hi \U0001f600", "\U0001f600\U0001f600", "ctrl \x99", "a\\ud83d", "x\\\\ud83d\\ude00", "ok"],
)
def test_apply_body_round_trips_without_surrogate_escapes(value: str) -> None:
    """Failed before (bench fuzz): an emoji went as a surrogate pair escape, which the API
    server's apply decoder refuses with 400 on every reconcile; a raw C1 control too."""
    body = apply_body({"greeting": value})
    assert json.loads(body) == {"greeting": value}
    text = body.decode()
    assert not re.search(r"(?<!\\)\\u[dD][89abAB]", text)  # no high surrogate escape
    assert not re.search("[\x80-\x9f]", text)  # C1 controls stay escaped
