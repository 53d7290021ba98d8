"""Types shared by both kinds: references, durations, E.164 numbers, conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from switchboard_contract.config import admission
from switchboard_contract.outbound import E164_PATTERN

# Go-style durations ("90s", "1h30m", "250ms"): what kubectl users already write elsewhere.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
MAX_DURATION = timedelta(days=7)  # longer is a typo; far longer overflows timedelta


@dataclass(frozen=True)
class DurationBounds:
    """Annotated marker: a duration between `minimum` and `maximum`, checked at admission
    (CEL) and by the model alike, so a CRD-valid value is always one the operator can use."""

    minimum: str = "0s"
    maximum: str = "168h"

    @property
    def message(self) -> str:
        return f"must be between {self.minimum} and {self.maximum}"

    def check(self, value: str) -> str:
        if (
            not parse_duration(self.minimum)
            <= parse_duration(value)
            <= parse_duration(self.maximum)
        ):
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler.resolve_ref_schema(handler(schema))
        # Kubernetes CEL parses Go durations; one too large to parse fails the rule as well.
        rule = (
            f"duration(self) >= duration('{self.minimum}')"
            f" && duration(self) <= duration('{self.maximum}')"
        )
        out["x-kubernetes-validations"] = [{"rule": rule, "message": self.message}]
        return out


GoDuration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]
Duration = Annotated[GoDuration, DurationBounds()]
# A call limit: zero would end every call at once.
CallDuration = Annotated[GoDuration, DurationBounds("1s")]
E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN, max_length=16)]
# A referenced object's name as the API server would take it (a DNS-1123 subdomain): a
# name it would refuse ("a%b", "..") must fail here, not as a 400 on every reconcile.
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ObjectName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=OBJECT_NAME_PATTERN)
]
# A Secret/ConfigMap data key, as a Pod's secretKeyRef takes it.
DataKey = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
]
# A resource quantity (cpu: 500m, memory: 1Gi) and a resource name (cpu, nvidia.com/gpu).
QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
Quantity = Annotated[str, StringConstraints(max_length=64, pattern=QUANTITY_PATTERN)] | int
RESOURCE_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
ResourceName = Annotated[str, StringConstraints(max_length=253, pattern=RESOURCE_NAME_PATTERN)]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")


def parse_duration(value: str) -> timedelta:
    """Parse a Go-style duration as validated by DURATION_PATTERN, at most MAX_DURATION."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 30s, 5m, 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION.days * 24}h")
    return timedelta(seconds=seconds)


def livekit_ref_of(spec: Any) -> LiveKitRef | None:
    """Just spec.livekit of a raw spec, for deletes: a spec invalid elsewhere must not block
    its own deletion. None when absent or itself invalid (then the default LiveKit is used)."""
    raw = spec.get("livekit") if isinstance(spec, dict) else None
    if raw is None:
        return None
    try:
        return LiveKitRef.model_validate(raw)
    except ValidationError:
        return None


class Model(BaseModel):
    """Base for API models: camelCase on the wire, immutable, unknown fields ignored.

    Unknown fields are ignored rather than rejected because the API server already prunes
    them; a newer CRD must not crash an older operator.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, unset optionals omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LocalObjectRef(Model):
    """A reference to an object in the same namespace."""

    name: ObjectName = Field(description="Name of the object in the same namespace.")


class SecretKeyRef(Model):
    """A key in a Secret in the same namespace."""

    name: ObjectName = Field(description="Name of the Secret in the same namespace.")
    key: DataKey = Field(description="Key inside the Secret's data.")


class ConfigMapKeyRef(Model):
    """A key in a ConfigMap in the same namespace."""

    name: ObjectName = Field(description="Name of the ConfigMap in the same namespace.")
    key: DataKey = Field(description="Key inside the ConfigMap's data.")


class LiveKitRef(Model):
    """Which LiveKit deployment to talk to."""

    secret_ref: LocalObjectRef = Field(
        description=(
            "Secret with keys `url` (ws(s):// or http(s)://), `apiKey` and `apiSecret`. "
            "When spec.livekit is omitted the operator's default LiveKit is used."
        )
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Model):
    """A cert-manager/metav1-style condition."""

    type: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="Condition type, e.g. Ready."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=128)] = Field(
        default="", description="CamelCase machine-readable reason for the last transition."
    )
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        default="", description="Human-readable details."
    )
    last_transition_time: str | None = Field(
        default=None,
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was computed from."
    )


CONDITIONS_FIELD_EXTRA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


def cel(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL rules into the CRD (see `admission`); unknown fields are
    ignored as in `Model`, also by the stages derived from the strict contract models."""
    config = admission(*rules)
    config["extra"] = "ignore"
    return config
