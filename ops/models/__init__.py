"""The ops app's models, one module per room, all under the `ops` app label."""

from ops.models.rollouts import (
    ControllerHeartbeat,
    Gate,
    GateResult,
    Notification,
    PlanInUseError,
    Release,
    Rollout,
    RolloutEvent,
    RolloutPhase,
    RolloutPlan,
    TrafficLanes,
)
from ops.models.slo import BUCKET_FIELDS, MetricRollup, SLObjective
from ops.models.status import StatusEntry

__all__ = [
    "BUCKET_FIELDS",
    "ControllerHeartbeat",
    "Gate",
    "GateResult",
    "MetricRollup",
    "Notification",
    "PlanInUseError",
    "Release",
    "Rollout",
    "RolloutEvent",
    "RolloutPhase",
    "RolloutPlan",
    "SLObjective",
    "StatusEntry",
    "TrafficLanes",
]
