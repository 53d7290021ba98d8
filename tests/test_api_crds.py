"""The CRDs are generated from the models, parse, document every field and agree with the models."""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

import jsonschema
import pytest
from pydantic import BaseModel
from switchboard.api import crdgen
from switchboard.api.siptrunk import SipTrunk
from switchboard.api.voiceagent import Scaling, VoiceAgent

from tests.support.manifests import CRDS, crd_schema, example_objects, load_all

pytestmark = pytest.mark.unit

KINDS = [("siptrunks", SipTrunk), ("voiceagents", VoiceAgent)]


def test_committed_crds_match_the_models() -> None:
    for name, content in crdgen.crd_files().items():
        assert (CRDS / name).read_text() == content, (
            f"crds/{name} is stale: run `python -m switchboard.api.crdgen`"
        )


@pytest.mark.parametrize("plural", ["siptrunks", "voiceagents"])
def test_crd_is_well_formed(plural: str) -> None:
    (crd,) = load_all(CRDS / f"{plural}.yaml")
    assert crd["metadata"]["name"] == f"{plural}.switchboard.dev"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    assert "switchboard" in crd["spec"]["names"]["categories"]
    assert crd["spec"]["names"]["shortNames"]


def _walk(schema: dict[str, Any], path: str):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{*}}")


@pytest.mark.parametrize("plural", ["siptrunks", "voiceagents"])
def test_every_field_has_a_description(plural: str) -> None:
    schema = crd_schema(plural)
    missing = [
        f"{path}.{name}"
        for path, node in _walk(schema, plural)
        for name, sub in node.get("properties", {}).items()
        if not sub.get("description") and f"{path}.{name}" != f"{plural}.metadata"
    ]
    assert missing == []


@pytest.mark.parametrize("plural", ["siptrunks", "voiceagents"])
def test_schema_is_structural(plural: str) -> None:
    # Structural schemas forbid unions and need a type (or int-or-string) on every node.
    for path, node in _walk(crd_schema(plural), plural):
        assert "anyOf" not in node and "oneOf" not in node and "$ref" not in node, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found:
            return found
    return None


def _literal_values(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for arg in get_args(annotation):
        found = _literal_values(arg)
        if found is not None:
            return found
    return None


def _compare(model: type[BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    """Field-by-field agreement: names, required-ness, types, enums and defaults."""
    problems = []
    props = schema.get("properties", {})
    aliases = {(f.alias or n): f for n, f in model.model_fields.items()}
    if set(aliases) != set(props):
        problems.append(f"{path}: model {sorted(aliases)} != schema {sorted(props)}")
    required = set(schema.get("required", []))
    for alias, field in aliases.items():
        sub = props.get(alias)
        if sub is None:
            continue
        if field.is_required() != (alias in required):
            problems.append(f"{path}.{alias}: required mismatch")
        if field.description != sub.get("description"):
            problems.append(f"{path}.{alias}: description mismatch")
        default = field.get_default(call_default_factory=True)
        if "default" in sub:
            wire = (
                default.model_dump(by_alias=True, exclude_none=True, mode="json")
                if isinstance(default, BaseModel)
                else default
            )
            if wire != sub["default"]:
                problems.append(f"{path}.{alias}: default {wire!r} != {sub['default']!r}")
        literal = _literal_values(field.annotation)
        if literal is not None:
            node = sub["items"] if sub.get("type") == "array" else sub
            if sorted(literal) != sorted(node.get("enum", [])):
                problems.append(f"{path}.{alias}: enum {node.get('enum')} != {literal}")
        origin = get_origin(field.annotation)
        sub_model = _model_of(field.annotation)
        if sub_model is not None:
            node = sub["items"] if sub.get("type") == "array" else sub
            if origin is dict:  # a map of models: each value's schema
                node = sub.get("additionalProperties", {})
            problems += _compare(sub_model, node, f"{path}.{alias}")
        elif origin is list and sub.get("type") != "array":
            problems.append(f"{path}.{alias}: list is not an array")
    return problems


@pytest.mark.parametrize(("plural", "model"), KINDS)
def test_models_and_crd_agree_field_by_field(plural: str, model: type[BaseModel]) -> None:
    schema = crd_schema(plural)
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    problems = []
    for part in ("spec", "status"):
        sub_model = _model_of(model.model_fields[part].annotation)
        assert sub_model is not None
        problems += _compare(sub_model, schema["properties"][part], f"{plural}.{part}")
    assert problems == []


def _jsonschema_for(plural: str) -> dict[str, Any]:
    """The CRD schema as plain JSON Schema (drop the x-kubernetes-* extensions)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: strip(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
            # The API server silently prunes unknown fields; here they are an error.
            if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                out["additionalProperties"] = False
            if node.get("x-kubernetes-int-or-string"):
                out["type"] = ["integer", "string"]
            return out
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(crd_schema(plural))


@pytest.mark.parametrize(
    ("kind", "plural", "model"),
    [("SipTrunk", "siptrunks", SipTrunk), ("VoiceAgent", "voiceagents", VoiceAgent)],
)
def test_examples_validate_against_crd_and_model(kind, plural, model) -> None:
    examples = example_objects(kind)
    assert examples, f"no {kind} examples"
    schema = _jsonschema_for(plural)
    for name, obj in examples:
        jsonschema.validate(obj, schema)
        parsed = model.model_validate(obj)
        assert parsed.spec is not None, name


def test_agreement_check_catches_drift() -> None:
    # Guard the guard: a dropped property or a changed default must be reported.
    schema = crd_schema("voiceagents")["properties"]["spec"]["properties"]["scaling"]
    broken = {**schema, "properties": dict(schema["properties"])}
    del broken["properties"]["warmWorkers"]
    broken["properties"]["callsPerWorker"] = {
        **schema["properties"]["callsPerWorker"],
        "default": 2,
    }
    problems = _compare(Scaling, broken, "scaling")
    assert any("warmWorkers" in p for p in problems)
    assert any("callsPerWorker: default" in p for p in problems)
