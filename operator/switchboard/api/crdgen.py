"""Generate crds/*.yaml from the API models: the models are written once, the CRDs follow.

Run `python -m switchboard.api.crdgen` to rewrite crds/; a unit test fails when they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from switchboard.api import GROUP, VERSION
from switchboard.api.campaign import CallCampaign
from switchboard.api.outbound import OutboundCall
from switchboard.api.siptrunk import SipTrunk
from switchboard.api.voiceagent import VoiceAgent

Schema = dict[str, Any]

# JSON-Schema keys that a Kubernetes structural schema keeps as they are.
_KEEP = {
    "type", "description", "enum", "pattern", "format", "default",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties",
}  # fmt: skip


class SchemaError(ValueError):
    """The models produced something a structural schema cannot express."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return node


def _structural(node: Schema, defs: dict[str, Schema], path: str, field: bool = True) -> Schema:
    """Convert one pydantic JSON-Schema node into an OpenAPI v3 structural schema node."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        variants = [_resolve(v, defs) for v in node["anyOf"]]
        non_null = [v for v in variants if v.get("type") != "null"]
        types = sorted(v.get("type", "") for v in non_null)
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        if types == ["integer", "string"]:
            out: Schema = {"x-kubernetes-int-or-string": True}
            out.update({k: v for k, v in outer.items() if k in _KEEP})
            return out
        if len(non_null) != 1:
            raise SchemaError(f"{path}: unions are not structural ({types})")
        return _structural({**non_null[0], **outer}, defs, path, field)

    out = {k: v for k, v in node.items() if k in _KEEP or k.startswith("x-kubernetes-")}
    if "const" in node:  # a one-value Literal: structural schemas spell it as an enum
        out["enum"] = [node["const"]]
    if out.get("default") is None:
        out.pop("default", None)
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        props = node.get("properties", {})
        if props:
            out["properties"] = {
                name: _structural(sub, defs, f"{path}.{name}") for name, sub in props.items()
            }
            if node.get("required"):
                out["required"] = list(node["required"])
        elif isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = _structural(
                node["additionalProperties"], defs, f"{path}[*]", field=False
            )
        elif len(patterns := node.get("patternProperties", {})) == 1:
            # a dict with constrained keys: structural schemas have no patternProperties,
            # so the values' schema applies to every key and CEL checks the key
            ((pattern, values),) = patterns.items()
            out["additionalProperties"] = _structural(values, defs, f"{path}[*]", field=False)
            literal = pattern.replace("\\", "\\\\").replace("'", "\\'")
            out.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, k.matches('{literal}'))",
                    "message": f"keys must match {pattern}",
                }
            )
    elif node.get("type") == "array":
        out["items"] = _structural(node["items"], defs, f"{path}[*]", field=False)
    if field and "description" not in out:
        raise SchemaError(f"{path}: every field needs a description")
    if "type" not in out and not out.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path}: no type")
    return out


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural openAPIV3Schema for a kind's top-level model (spec + status)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    body = _structural(raw, defs, model.__name__)
    props = body["properties"]
    return {
        "type": "object",
        "description": body["description"],
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            # The API server forbids anything but `type` here (metadata is implicit).
            "metadata": {"type": "object"},
            "spec": props["spec"],
            "status": props["status"],
        },
    }


def _ready_column() -> Schema:
    return {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Ready condition",
    }


def _age_column() -> Schema:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


KINDS: dict[str, Schema] = {
    "SipTrunk": {
        "model": SipTrunk,
        "plural": "siptrunks",
        "shortNames": ["sipt", "trunk"],
        "columns": [
            {"name": "Numbers", "type": "string", "jsonPath": ".spec.inbound.numbers"},
            {"name": "Inbound", "type": "string", "jsonPath": ".status.inboundTrunkID"},
            {"name": "Outbound", "type": "string", "jsonPath": ".status.outboundTrunkID"},
            _ready_column(),
            _age_column(),
        ],
    },
    "VoiceAgent": {
        "model": VoiceAgent,
        "plural": "voiceagents",
        "shortNames": ["va", "vagent"],
        "columns": [
            {"name": "Agent", "type": "string", "jsonPath": ".status.agentName"},
            {"name": "Calls", "type": "integer", "jsonPath": ".status.activeCalls"},
            {"name": "Ready", "type": "integer", "jsonPath": ".status.workers.ready"},
            {"name": "Idle", "type": "integer", "jsonPath": ".status.workers.idle"},
            {"name": "Warm", "type": "integer", "jsonPath": ".status.warm.target"},
            {
                "name": "P95",
                "type": "string",
                "jsonPath": ".status.calls.lastHour.p95VoiceToVoice",
                "description": "voice-to-voice p95 over the last hour's calls",
            },
            {
                "name": "Cost/Min",
                "type": "string",
                "jsonPath": ".status.calls.lastHour.costPerMinute",
                "description": "USD per call minute over the last hour",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    },
    "OutboundCall": {
        "model": OutboundCall,
        "plural": "outboundcalls",
        "shortNames": ["oc"],
        "columns": [
            {"name": "To", "type": "string", "jsonPath": ".status.toMasked"},
            {"name": "Agent", "type": "string", "jsonPath": ".spec.voiceAgentRef.name"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Result", "type": "string", "jsonPath": ".status.result"},
            {"name": "Duration", "type": "string", "jsonPath": ".status.duration"},
            _age_column(),
        ],
    },
    "CallCampaign": {
        "model": CallCampaign,
        "plural": "callcampaigns",
        "shortNames": ["camp"],
        "columns": [
            {"name": "Agent", "type": "string", "jsonPath": ".spec.voiceAgentRef.name"},
            {"name": "Total", "type": "integer", "jsonPath": ".status.total"},
            {"name": "InFlight", "type": "integer", "jsonPath": ".status.inFlight"},
            {"name": "Remaining", "type": "integer", "jsonPath": ".status.remaining"},
            {"name": "Answered", "type": "integer", "jsonPath": ".status.counts.answered"},
            {"name": "NextWindow", "type": "date", "jsonPath": ".status.nextWindow"},
            _age_column(),
        ],
    },
}


def crd(kind: str) -> Schema:
    """The full CustomResourceDefinition manifest for `kind`."""
    info = KINDS[kind]
    plural = info["plural"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "switchboard"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": info["shortNames"],
                "categories": ["switchboard"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": info["columns"],
                    "schema": {"openAPIV3Schema": openapi_schema(info["model"])},
                }
            ],
        },
    }


HEADER = (
    "# Generated by `python -m switchboard.api.crdgen` from operator/switchboard/api;"
    " do not edit.\n"
)


def render(kind: str) -> str:
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100)


def crd_files() -> dict[str, str]:
    """File name -> content for every kind."""
    return {f"{KINDS[k]['plural']}.yaml": render(k) for k in KINDS}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else Path(__file__).resolve().parents[3] / "crds"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in crd_files().items():
        (out_dir / name).write_text(content)
        print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
