"""The embedded metrics store: per-minute rollups recorded in memory, flushed to the database.

Every process keeps its own counts per (minute, version, endpoint, method, status class,
traffic) and a
background thread upserts them every METRICS_FLUSH_SECONDS in one statement: never a write
per request. Works the same on SQLite and PostgreSQL, across workers and instances.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction

from ops.models.slo import BUCKET_FIELDS, MetricRollup
from portal.observability.metrics import BUCKETS_MS
from portal.resilience.failures import is_database_outage

logger = logging.getLogger("portal.metrics_store")

# minute (unix), version, endpoint, method, status class, traffic (customer, probe, rehearsal)
Key = tuple[int, str, str, str, str, str]
DbKey = tuple[str, str, str, str, str, str]
UNIQUE_FIELDS = ["process", "minute", "version", "endpoint", "method", "status_class", "traffic"]


def status_class(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


def bucket_index(duration_ms: float) -> int:
    # Buckets are "less than or equal to the bound", as in Prometheus.
    return bisect.bisect_left(BUCKETS_MS, duration_ms)


@dataclass
class Cell:
    count: int = 0
    sum_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._process = f"{socket.gethostname()}:{self._pid}:{int(time.time())}"
        self._cells: dict[Key, Cell] = {}
        self._thread: threading.Thread | None = None

    def observe(
        self,
        method: str,
        endpoint: str,
        status: int,
        duration_ms: float,
        version: str,
        traffic: str = "customer",
    ) -> None:
        if not settings.METRICS_STORE_ENABLED:
            return
        if os.getpid() != self._pid:  # forked after import: start clean
            self._reset()
        minute = int(time.time()) // 60 * 60
        key = (minute, version, endpoint, method, status_class(status), traffic)
        with self._lock:
            cell = self._cells.setdefault(key, Cell())
            cell.count += 1
            cell.sum_ms += duration_ms
            cell.buckets[bucket_index(duration_ms)] += 1
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        interval = settings.METRICS_FLUSH_SECONDS
        if interval <= 0 or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(
            target=self._flush_forever, args=(interval,), name="metrics-flush", daemon=True
        )
        self._thread.start()
        atexit.register(self.flush)

    def _flush_forever(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.flush()
            except DatabaseError as exc:
                if not is_database_outage(exc):
                    logger.exception("Metrics flush failed; will retry")
                else:  # the breakers and health already say so, once per request
                    logger.warning("Metrics flush waits for the database: %s", exc)
            except Exception:
                logger.exception("Metrics flush failed; will retry")
            finally:
                close_old_connections()

    def flush(self) -> int:
        """Upserts every cell; forgets the minutes that had ended. Returns rows written."""
        started_minute = int(time.time()) // 60 * 60
        with self._lock:
            snapshot = {
                key: Cell(cell.count, cell.sum_ms, list(cell.buckets))
                for key, cell in self._cells.items()
            }
        if not snapshot:
            return 0
        # Cells are merged by the key the database sees (columns are bounded), so no two rows of
        # one statement can ever share a conflict key, whatever labels were recorded.
        merged: dict[DbKey, tuple[int, Cell]] = {}
        for key, cell in snapshot.items():
            minute = key[0]
            db_key = self._db_key(key)
            seen = merged.get(db_key)
            if seen is None:
                merged[db_key] = (minute, Cell(cell.count, cell.sum_ms, list(cell.buckets)))
            else:
                total = seen[1]
                total.count += cell.count
                total.sum_ms += cell.sum_ms
                total.buckets = [a + b for a, b in zip(total.buckets, cell.buckets, strict=True)]
        rows = [
            MetricRollup(
                process=self._process,
                minute=datetime.fromtimestamp(minute, tz=UTC),
                version=version,
                endpoint=endpoint,
                method=method,
                status_class=klass,
                traffic=traffic,
                count=cell.count,
                sum_ms=cell.sum_ms,
                **dict(zip(BUCKET_FIELDS, cell.buckets, strict=True)),
            )
            for (_, version, endpoint, method, klass, traffic), (minute, cell) in merged.items()
        ]
        try:
            self._upsert(rows)
        except DatabaseError as exc:
            if is_database_outage(exc):
                # Kept (up to METRICS_BUFFER_MINUTES) and written once the database is back.
                self._drop_older_than(started_minute - settings.METRICS_BUFFER_MINUTES * 60)
                raise
            # Something in one row: write them one at a time, so the rest still land and the
            # offending row cannot fail every later flush.
            rejected = self._upsert_each(rows)
            logger.error("Metrics flush: %d row(s) refused by the database: %s", len(rejected), exc)
            # A refused row would be refused again: forget its counts rather than retry them.
            with self._lock:
                for key in [k for k in self._cells if self._db_key(k) in rejected]:
                    del self._cells[key]
        # Minutes that had ended before the snapshot cannot change any more.
        self._drop_older_than(started_minute)
        return len(rows)

    @staticmethod
    def _upsert(rows: list[MetricRollup]) -> None:
        MetricRollup.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=["count", "sum_ms", *BUCKET_FIELDS],
        )

    @staticmethod
    def _db_key(key: Key) -> DbKey:
        minute, version, endpoint, method, klass, traffic = key
        return (str(minute), version[:64], endpoint[:200], method[:10], klass, traffic[:10])

    def _upsert_each(self, rows: list[MetricRollup]) -> set[DbKey]:
        rejected: set[DbKey] = set()
        for row in rows:
            try:
                with transaction.atomic():
                    self._upsert([row])
            except DatabaseError as exc:
                if is_database_outage(exc):
                    raise
                minute = str(int(row.minute.timestamp()))
                rejected.add(
                    (minute, row.version, row.endpoint, row.method, row.status_class, row.traffic)
                )
                logger.exception("Metrics row dropped: %s %s %s", row.method, row.endpoint, exc)
        return rejected

    def _drop_older_than(self, minute: int) -> None:
        with self._lock:
            for key in [k for k in self._cells if k[0] < minute]:
                del self._cells[key]


recorder = Recorder()
