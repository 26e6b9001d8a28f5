"""Migration 0023 (finer latency buckets) moves every stored count to the bucket with the same
upper bound, and back."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("ops", "0022_controller_heartbeat")
AFTER = ("ops", "0023_finer_latency_buckets")


def _migrate(target: tuple[str, str] | None) -> Any:
    """To `target`, or (None) back to the latest state of every app."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_counts_keep_their_upper_bound_both_ways() -> None:
    try:
        old = _migrate(BEFORE).get_model("ops", "MetricRollup")
        # Old layout: b00 is (0, 5], b01 (5, 10], b02 (10, 25], b18 (5000, 10000], b19 +Inf.
        counts = {"b00": 7, "b01": 3, "b02": 2, "b18": 1, "b19": 4}
        old.objects.create(
            process="p", minute="2026-11-27T00:00:00Z", version="1.0.0", endpoint="/v*/x",
            method="GET", status_class="2xx", count=17, sum_ms=100.0, **counts,
        )  # fmt: skip
        new = _migrate(AFTER).get_model("ops", "MetricRollup")
        row = new.objects.get()
        moved = {f"b{i:02d}": getattr(row, f"b{i:02d}") for i in range(26)}
        # New layout: 1, 2, 3, 4, 5, 7.5, 10, 15, 25, ... 10000, +Inf.
        assert {k: v for k, v in moved.items() if v} == {
            "b04": 7,  # (4, 5]: the old (0, 5] cannot be split
            "b06": 3,  # (7.5, 10]
            "b08": 2,  # (15, 25]
            "b24": 1,  # (5000, 10000]
            "b25": 4,  # +Inf
        }
        assert sum(moved.values()) == 17
        back = _migrate(BEFORE).get_model("ops", "MetricRollup").objects.get()
        assert {k: getattr(back, k) for k in counts} == counts
    finally:
        _migrate(None)
