"""Seeded fuzz cases: manifests drawn from the CRD schemas, made CEL-valid, or broken once."""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis_jsonschema import from_schema
from switchboard.api import GROUP, VERSION
from switchboard.api.common import parse_duration

from tests.support.manifests import crd_schema, json_schema

PLURALS = {"SipTrunk": "siptrunks", "VoiceAgent": "voiceagents"}
CATEGORIES = ("type", "bounds", "pattern", "enum", "required", "cel")
WRONG_TYPE: dict[str, Any] = {
    "string": 12345,
    "integer": "twelve",
    "number": "half",
    "boolean": "sometimes",  # pydantic reads "yes" as True
    "array": "not-a-list",
    "object": "not-an-object",
}
BAD_STRING = "not valid!"
DELETE: Any = object()  # a mutation that removes the field
FieldPath = tuple[str | int, ...]
PIPELINE = {
    "stt": {"provider": "pocketsphinx"},
    "llm": {"provider": "scripted", "script": {}},
    "tts": {"provider": "flite"},
}
KEY_REF = {"name": "provider-key", "key": "apiKey"}
REALTIME = {"provider": "openai", "apiKeySecretRef": KEY_REF}


@dataclass
class Case:
    """One manifest, why it was made, and what became of it on the stack."""

    name: str
    kind: str
    mutation: str | None  # None: a valid draw
    field: str | None  # the key a rejection of the mutation should name
    manifest: dict[str, Any]
    outcome: str = "not run"
    reason: str = ""  # the Ready condition's reason
    message: str = ""
    created: float = 0.0
    latency_s: float | None = None
    deployment: bool | None = None  # a VoiceAgent's worker Deployment existed once it settled


@functools.cache
def spec_schema(kind: str) -> dict[str, Any]:
    return dict(crd_schema(PLURALS[kind])["properties"]["spec"])


def draw(kind: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` specs drawn from the kind's CRD schema; the same seed draws the same specs.

    Hypothesis also draws literals found in the loaded local modules, so "the same" holds
    for one checkout and entry point (the result file records a hash of the manifests)."""
    strategy = from_schema(json_schema(spec_schema(kind)))
    out: list[dict[str, Any]] = []
    for attempt in range(100):  # hypothesis skips duplicates: top up with the next seed
        if len(out) >= n:
            break

        @hypothesis_seed(seed + attempt)
        @settings(
            max_examples=n - len(out),
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def collect(spec: dict[str, Any]) -> None:
            out.append(spec)

        collect()
    return out[:n]


def sites(
    value: Any, schema: dict[str, Any], path: FieldPath
) -> Iterator[tuple[FieldPath, dict[str, Any], Any]]:
    """Every (path, schema, value) in a drawn object, along the schema's declared fields."""
    yield path, schema, value
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from sites(item, sub, (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from sites(item, schema["items"], (*path, i))


def schema_mutations(
    spec: dict[str, Any], schema: dict[str, Any]
) -> list[tuple[str, FieldPath, Any]]:
    """(category, path, new value) for every single-field change the schema refuses."""
    out: list[tuple[str, FieldPath, Any]] = [("required", ("spec",), DELETE)]
    for path, s, value in sites(spec, schema, ("spec",)):
        if "type" in s and not s.get("x-kubernetes-int-or-string"):
            out.append(("type", path, WRONG_TYPE[s["type"]]))
        if "maximum" in s:
            out.append(("bounds", path, s["maximum"] + 1))
        if "minimum" in s:
            out.append(("bounds", path, s["minimum"] - 1))
        if isinstance(value, str) and "maxLength" in s:
            out.append(("bounds", path, "a" * (s["maxLength"] + 1)))
        if isinstance(value, str) and s.get("minLength", 0) > 0:
            out.append(("bounds", path, ""))
        if isinstance(value, list) and s.get("minItems", 0) > 0:
            out.append(("bounds", path, []))
        if isinstance(value, list) and value and "maxItems" in s:
            out.append(
                ("bounds", path, [copy.deepcopy(value[0]) for _ in range(s["maxItems"] + 1)])
            )
        if isinstance(value, str) and "pattern" in s and not re.search(s["pattern"], BAD_STRING):
            out.append(("pattern", path, BAD_STRING))
        if "enum" in s:
            out.append(("enum", path, "NotInTheEnum"))
        if isinstance(value, dict):
            out.extend(
                ("required", (*path, r), DELETE) for r in s.get("required", []) if r in value
            )
    return out


def _intent(action: dict[str, str]) -> dict[str, Any]:
    intent = {"name": "fuzz", "keywords": ["k"], "reply": "r", "action": action}
    return {"provider": "scripted", "script": {"intents": [intent]}}


# What a missing parent of an edit starts as: valid on its own, so one rule breaks at a time.
PARENTS: dict[str, Any] = {
    "inbound": {"allowedAddresses": ["127.0.0.1/32"]},
    "telephony": {"trunks": ["fuzz-trunk"]},
    "pipeline": PIPELINE,
}
D0, DBIG = "0s", "99999999999h"
# One broken CEL rule each: dotted spec path -> value; the last path's key is the one named.
CEL: dict[str, dict[str, dict[str, Any]]] = {
    "SipTrunk": {
        "maxCallDuration 0s": {"inbound.maxCallDuration": D0},
        "maxCallDuration 99999999999h": {"inbound.maxCallDuration": DBIG},
        "ringingTimeout 11m": {"inbound.ringingTimeout": "11m"},
        "allowedAddresses not an IP": {"inbound.allowedAddresses": ["no-ip"]},
        "inbound with nothing": {"inbound": {"krisp": True}},
        "neither inbound nor outbound": {"inbound": DELETE, "outbound": DELETE},
    },
    "VoiceAgent": {
        "maxCallDuration 0s": {"telephony.maxCallDuration": D0},
        "maxCallDuration 99999999999h": {"telephony.maxCallDuration": DBIG},
        "scaleDownDelay 169h": {"scaling.scaleDownDelay": "169h"},
        "minWorkers > maxWorkers": {"scaling.maxWorkers": 5, "scaling.minWorkers": 6},
        "pipeline and realtime": {"pipeline.stt.provider": "pocketsphinx", "realtime": REALTIME},
        "neither pipeline nor realtime": {"pipeline": DELETE, "realtime": DELETE},
        "instructions and instructionsFrom": {
            "instructions": "x",
            "instructionsFrom": {"configMapKeyRef": {"name": "c", "key": "k"}},
        },
        "cloud stt without key": {"pipeline.stt": {"provider": "deepgram"}},
        "scripted llm without script": {"pipeline.llm": {"provider": "scripted"}},
        "direct dispatch without roomName": {"telephony.dispatch": {"type": "direct"}},
        "transfer without target": {"pipeline.llm": _intent({"type": "transfer"})},
        "transfer to unknown target": {
            "pipeline.llm": _intent({"type": "transfer", "target": "nowhere"})
        },
    },
}


def apply_edits(spec: dict[str, Any], edits: dict[str, Any]) -> str:
    """Set each dotted path (creating parents from PARENTS); return the last key set."""
    key = ""
    for path, value in edits.items():
        *parents, key = path.split(".")
        obj = spec
        for parent in parents:
            if parent not in obj:
                if parent == "pipeline":
                    obj.pop("realtime", None)  # a new pipeline must not break the XOR rule
                obj[parent] = copy.deepcopy(PARENTS.get(parent, {}))
            obj = obj[parent]
        if value is DELETE:
            obj.pop(key, None)
        else:
            obj[key] = copy.deepcopy(value)
    return key


def _clamp(obj: dict[str, Any], key: str, low: str, high: str, fallback: str) -> None:
    if key not in obj:
        return
    try:
        ok = parse_duration(low) <= parse_duration(obj[key]) <= parse_duration(high)
    except ValueError:
        ok = False
    if not ok:
        obj[key] = fallback


def repair(kind: str, spec: dict[str, Any]) -> None:
    """Make a schema draw pass the CEL rules and list semantics too, so valid draws mostly
    get admitted and reach the operator (the schema alone cannot say these)."""
    for _, s, value in sites(spec, spec_schema(kind), ()):
        keys = s.get("x-kubernetes-list-map-keys")
        if isinstance(value, list) and s.get("x-kubernetes-list-type") in ("set", "map"):
            seen: dict[str, Any] = {}
            for item in value:
                ident = [item.get(k) for k in keys] if keys and isinstance(item, dict) else item
                seen.setdefault(json.dumps(ident, sort_keys=True), item)
            value[:] = list(seen.values())
    if kind == "SipTrunk":
        if "outbound" not in spec:
            spec.setdefault("inbound", {})
        if (inbound := spec.get("inbound")) is not None:
            if inbound.get("allowedAddresses"):
                count = len(inbound["allowedAddresses"])
                inbound["allowedAddresses"] = [f"10.0.{i}.0/24" for i in range(count)]
            if not any(inbound.get(k) for k in ("numbers", "allowedAddresses", "authSecretRef")):
                inbound["allowedAddresses"] = ["127.0.0.1/32"]
            _clamp(inbound, "ringingTimeout", "1s", "10m", "30s")
            _clamp(inbound, "maxCallDuration", "1s", "168h", "1h")
        return
    if "pipeline" in spec:
        spec.pop("realtime", None)
    elif "realtime" not in spec:
        spec["pipeline"] = copy.deepcopy(PIPELINE)
    if "instructions" in spec:
        spec.pop("instructionsFrom", None)
    telephony = spec.get("telephony") or {}
    targets = {t["name"] for t in telephony.get("transferTargets", [])}
    if (pipeline := spec.get("pipeline")) is not None:
        for stage, local in (("stt", "pocketsphinx"), ("tts", "flite")):
            if pipeline[stage]["provider"] != local:
                pipeline[stage].setdefault("apiKeySecretRef", copy.deepcopy(KEY_REF))
        llm = pipeline["llm"]
        if llm["provider"] == "scripted":
            llm.setdefault("script", {})
        for intent in (llm.get("script") or {}).get("intents", []):
            action = intent.get("action")
            if action and not (action["type"] == "transfer" and action.get("target") in targets):
                intent["action"] = {"type": "hangup"}
    if (dispatch := telephony.get("dispatch")) and dispatch.get("type") == "direct":
        dispatch.setdefault("roomName", "fuzz-room")
    _clamp(telephony, "maxCallDuration", "1s", "168h", "1h")
    if (scaling := spec.get("scaling")) is not None:
        _clamp(scaling, "scaleDownDelay", "0s", "168h", "30s")
        scaling["minWorkers"] = min(scaling.get("minWorkers", 0), scaling.get("maxWorkers", 10))


def _set(obj: Any, path: FieldPath, value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    if value is DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def dotted(path: FieldPath) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def mutate(kind: str, manifest: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """Break a valid manifest with one seeded change; (what changed, the key to name)."""
    category = rng.choice(CATEGORIES)
    if category != "cel":
        found = [
            m for m in schema_mutations(manifest["spec"], spec_schema(kind)) if m[0] == category
        ]
        if found:
            _, path, value = rng.choice(found)
            _set(manifest, path, value)
            return f"{category} {dotted(path)}", next(
                str(k) for k in reversed(path) if isinstance(k, str)
            )
    name = rng.choice(sorted(CEL[kind]))
    return f"cel {name}", apply_edits(manifest["spec"], CEL[kind][name])


def generate(count: int, seed: int) -> list[Case]:
    """`count` manifests, alternating kinds, about half mutated; reproducible from `seed`."""
    rng = random.Random(seed)
    kinds = [("SipTrunk", "VoiceAgent")[i % 2] for i in range(count)]
    drawn = {kind: iter(draw(kind, kinds.count(kind), seed)) for kind in PLURALS}
    cases = []
    for i, kind in enumerate(kinds):
        spec = next(drawn[kind])
        repair(kind, spec)
        name = f"fz-{i:04d}-{'st' if kind == 'SipTrunk' else 'va'}"
        manifest = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        manifest["spec"] = spec
        mutation, key = mutate(kind, manifest, rng) if rng.random() < 0.5 else (None, None)
        cases.append(Case(name, kind, mutation, key, manifest))
    return cases
