"""The real components' binaries: use one, or skip (dev) / fail (`make test`) when missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_TOOLS = os.environ.get("SWITCHBOARD_REQUIRE_TOOLS") == "1"


def require_binary(path: Path | None, what: str) -> Path:
    """Return `path` if it is an executable; otherwise skip (dev) or fail (`make test`)."""
    if path is not None and path.is_file() and os.access(path, os.X_OK):
        return path
    msg = f"{what} not found at {path}; run `make tools`"
    if REQUIRE_TOOLS:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)
