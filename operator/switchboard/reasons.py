"""Condition reasons and their retry delays, named once for every kind (cert-manager style)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

CONFIG_NOT_FOUND = "ConfigNotFound"  # a referenced Secret/ConfigMap (or the default LiveKit)
INVALID_SPEC = "InvalidSpec"  # the spec cannot work as written: fixed only by editing it

CONFIG_NOT_FOUND_RETRY_S = 30.0  # also woken by the Secret watch, when there is one


def field_errors(
    err: ValidationError, prefix: str = "spec", renames: Mapping[str, str] | None = None
) -> str:
    """`spec.a.b[0].c: message; …` for a pydantic error, its first key mapped by `renames`.

    A model-level check (an empty location) is reported against `prefix` itself.
    """
    renames = renames or {}
    parts = []
    for e in err.errors(include_url=False, include_input=False):
        path = prefix
        for i, key in enumerate(e["loc"]):
            if isinstance(key, int):
                path += f"[{key}]"
            else:
                path += "." + (renames.get(key, key) if i == 0 else key)
        parts.append(f"{path}: {e['msg']}")
    return "; ".join(parts)
