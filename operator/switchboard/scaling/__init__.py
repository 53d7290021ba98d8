"""Call-aware warm-pool scaling: the pure policy the operator and the simulator share."""

from __future__ import annotations

from switchboard.scaling.policy import (
    BUSY_COST_PER_CALL,
    Decision,
    PredictiveWarm,
    ScalingParams,
    WorkerState,
    decide,
    deletion_costs,
    desired_workers,
)

__all__ = [
    "BUSY_COST_PER_CALL",
    "Decision",
    "PredictiveWarm",
    "ScalingParams",
    "WorkerState",
    "decide",
    "deletion_costs",
    "desired_workers",
]
