"""Traffic drivers: how a rollout's canary weight reaches the load balancer."""

from __future__ import annotations

from typing import Protocol

from ops.models import Rollout


class TrafficDriver(Protocol):
    name: str

    def set_weight(self, rollout: Rollout, weight: int) -> str:
        """Sends `weight` percent of traffic to the canary; returns output for the event log.
        Raises on failure (the transition then does not happen)."""
        ...


class RecordDriver:
    """The local default: the weight is only recorded on the rollout."""

    name = "record"

    def set_weight(self, rollout: Rollout, weight: int) -> str:
        return f"recorded canary weight {weight}% (record driver: no traffic is moved)"


DRIVERS: dict[str, type[RecordDriver]] = {"record": RecordDriver}


def driver_for(name: str) -> TrafficDriver:
    try:
        return DRIVERS[name]()
    except KeyError:
        raise ValueError(f"Unknown traffic driver {name!r}; known: {', '.join(DRIVERS)}") from None
