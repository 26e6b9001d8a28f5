from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from ops.metrics_store import bucket_index, recorder, status_class
from ops.models import MetricRollup
from portal.metrics import BUCKETS_MS

pytestmark = pytest.mark.django_db


def test_requests_become_per_minute_rollups_on_flush(api: APIClient) -> None:
    for _ in range(3):
        api.get("/v1/contacts")
    api.get("/v1/contacts", {"limit": "x"})
    assert MetricRollup.objects.count() == 0  # nothing is written per request
    assert recorder.flush() >= 2
    ok = MetricRollup.objects.get(endpoint="/v*/contacts", status_class="2xx")
    assert (ok.method, ok.version, ok.count) == ("GET", "1.0.0", 3)
    assert ok.sum_ms > 0
    assert sum(getattr(ok, f"b{i:02d}") for i in range(len(BUCKETS_MS) + 1)) == 3
    assert MetricRollup.objects.get(endpoint="/v*/contacts", status_class="4xx").count == 1


def test_flushing_again_is_idempotent_and_later_requests_add_up(api: APIClient) -> None:
    api.get("/v1/health")
    recorder.flush()
    recorder.flush()
    health = MetricRollup.objects.filter(endpoint="/v*/health")
    assert health.aggregate(total=Sum("count"))["total"] == 1
    api.get("/v1/health")
    recorder.flush()
    assert health.aggregate(total=Sum("count"))["total"] == 2


def test_a_failed_flush_keeps_the_counts_for_the_next_one(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import DatabaseError, OperationalError

    api.get("/v1/health")

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")  # the database is unreachable

    monkeypatch.setattr(MetricRollup.objects, "bulk_create", down)
    with pytest.raises(DatabaseError):
        recorder.flush()
    monkeypatch.undo()
    recorder.flush()
    assert MetricRollup.objects.get(endpoint="/v*/health").count == 1


@pytest.mark.parametrize(
    ("status", "klass"), [(200, "2xx"), (201, "2xx"), (404, "4xx"), (429, "429"), (503, "5xx")]
)
def test_status_classes(status: int, klass: str) -> None:
    assert status_class(status) == klass


def test_buckets_are_less_than_or_equal_to_their_bound() -> None:
    assert bucket_index(50) == BUCKETS_MS.index(50)
    assert bucket_index(50.01) == BUCKETS_MS.index(50) + 1
    assert bucket_index(999999) == len(BUCKETS_MS)


def test_prune_deletes_only_old_rows() -> None:
    now = timezone.now()
    for age in (1, 40):
        MetricRollup.objects.create(
            process="p", minute=now - timedelta(days=age), version="1", endpoint="/x",
            method="GET", status_class="2xx", count=1,
        )  # fmt: skip
    out = StringIO()
    call_command("prune_metrics", stdout=out)
    assert "Deleted 1" in out.getvalue()
    assert MetricRollup.objects.count() == 1
