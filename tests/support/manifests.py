"""Load example manifests and CRDs for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def example_objects(kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) for every example manifest, optionally of one kind."""
    out = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for obj in load_all(path):
            if kind is None or obj["kind"] == kind:
                out.append((str(path.relative_to(EXAMPLES)), obj))
    return out


def crd_schema(plural: str) -> dict[str, Any]:
    crd = load_all(CRDS / f"{plural}.yaml")[0]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def json_schema(schema: Any) -> Any:
    """A CRD schema as plain JSON Schema, closed the way the API server prunes objects (for
    hypothesis-jsonschema: what it draws is what the API server would keep)."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 8}]
    if "properties" in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False  # unknown fields are pruned, never seen
    return out


def spec_json_schema(plural: str) -> dict[str, Any]:
    """The JSON Schema of a kind's `spec`, from its CRD."""
    return dict(json_schema(crd_schema(plural)["properties"]["spec"]))
