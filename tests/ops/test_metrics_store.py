from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from ops.models import MetricRollup
from ops.slo.metrics_store import bucket_index, recorder, status_class
from portal.observability.metrics import BUCKETS_MS

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
            process="p",
            minute=now - timedelta(days=age),
            version="1",
            endpoint="/x",
            method="GET",
            status_class="2xx",
            count=1,
        )
    out = StringIO()
    call_command("prune_metrics", stdout=out)
    assert "Deleted 1" in out.getvalue()
    assert MetricRollup.objects.count() == 1


def test_invented_methods_share_one_row_and_the_flush_never_conflicts(api: APIClient) -> None:
    # Two methods sharing their first 10 characters were two rows with one conflict key in one
    # upsert: PostgreSQL refused the whole statement, and every later flush, for an hour.
    for method in ("PROPFINDXYZ1", "PROPFINDXYZ2", "BREW", "GET"):
        api.generic(method, "/v1/contacts")
    assert recorder.flush() >= 2
    methods = set(MetricRollup.objects.values_list("method", flat=True))
    assert methods == {"GET", "OTHER"}
    assert MetricRollup.objects.get(method="OTHER", status_class="4xx").count == 3


def test_labels_that_collide_once_truncated_are_merged_before_the_upsert() -> None:
    recorder.observe("GET", "/v*/contacts", 200, 5.0, "v" * 64 + "a")
    recorder.observe("GET", "/v*/contacts", 200, 7.0, "v" * 64 + "b")
    assert recorder.flush() == 1
    (row,) = MetricRollup.objects.all()
    assert (row.version, row.count, row.sum_ms) == ("v" * 64, 2, 12.0)


def test_a_row_the_database_refuses_does_not_block_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import DataError

    recorder.observe("GET", "/v*/contacts", 200, 5.0, "1.0.0")
    recorder.observe("GET", "/v*/jobs", 200, 5.0, "1.0.0")
    real = recorder._upsert

    def picky(rows: list[MetricRollup]) -> None:
        if any(row.endpoint == "/v*/jobs" for row in rows):
            raise DataError("value out of range")
        real(rows)

    monkeypatch.setattr(recorder, "_upsert", picky)
    recorder.flush()
    assert list(MetricRollup.objects.values_list("endpoint", flat=True)) == ["/v*/contacts"]
    # The refused row is forgotten, not retried: the next flush is clean.
    recorder.observe("GET", "/v*/health", 200, 5.0, "1.0.0")
    monkeypatch.setattr(recorder, "_upsert", real)
    recorder.flush()
    assert set(MetricRollup.objects.values_list("endpoint", flat=True)) == {
        "/v*/contacts",
        "/v*/health",
    }
