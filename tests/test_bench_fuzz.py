"""The fuzz benchmark's cases: seeded, and each mutation one the API model refuses too."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from switchboard.api.common import Model
from switchboard.api.siptrunk import SipTrunk
from switchboard.api.voiceagent import VoiceAgent

from bench.fuzz_cases import CATEGORIES, CEL, PIPELINE, apply_edits, generate

pytestmark = pytest.mark.unit

MODELS: dict[str, type[Model]] = {"SipTrunk": SipTrunk, "VoiceAgent": VoiceAgent}
BASE = {
    "SipTrunk": {"inbound": {"allowedAddresses": ["127.0.0.1/32"]}},
    "VoiceAgent": {"pipeline": PIPELINE},
}
# CEL rules the models check as well; the rest (XOR of fields, minWorkers <= maxWorkers, ...)
# only admission enforces, so the model cannot be asked to refuse them.
MODEL_CEL = {
    "SipTrunk": ["maxCallDuration 0s", "maxCallDuration 99999999999h", "ringingTimeout 11m"],
    "VoiceAgent": [
        "maxCallDuration 0s",
        "maxCallDuration 99999999999h",
        "scaleDownDelay 169h",
        "scripted llm without script",
        "transfer without target",
        "transfer to unknown target",
    ],
}


def test_the_same_seed_generates_the_same_manifests() -> None:
    first = [(c.name, c.mutation, c.manifest) for c in generate(8, 5)]
    assert first == [(c.name, c.mutation, c.manifest) for c in generate(8, 5)]
    assert first != [(c.name, c.mutation, c.manifest) for c in generate(8, 6)]


def _containers(value: Any) -> Iterator[dict[str, Any] | list[Any]]:
    if isinstance(value, dict | list):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


def test_names_are_unique_and_cases_share_no_mutable_parts() -> None:
    cases = generate(16, 5)
    assert len({c.name for c in cases}) == len(cases)
    assert [c.kind for c in cases[:2]] == ["SipTrunk", "VoiceAgent"]
    ids = [id(part) for c in cases for part in _containers(c.manifest)]
    assert len(ids) == len(set(ids))  # a shared dict would carry one case's mutation to another


def test_schema_mutations_are_refused_by_the_api_model() -> None:
    mutated = [c for c in generate(24, 3) if c.mutation and not c.mutation.startswith("cel")]
    assert mutated
    for case in mutated:
        assert case.mutation.split()[0] in CATEGORIES
        with pytest.raises(ValidationError):
            MODELS[case.kind].model_validate(case.manifest)


@pytest.mark.parametrize(
    ("kind", "name"), [(kind, name) for kind, names in MODEL_CEL.items() for name in names]
)
def test_cel_mutations_the_model_mirrors_are_refused(kind: str, name: str) -> None:
    spec = copy.deepcopy(BASE[kind])
    MODELS[kind].model_validate({"spec": spec})  # valid before the edit
    apply_edits(spec, CEL[kind][name])
    with pytest.raises(ValidationError):
        MODELS[kind].model_validate({"spec": spec})
