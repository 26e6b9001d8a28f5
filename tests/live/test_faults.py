"""Fault tests with real services: a throwaway PostgreSQL and Redis under a real gunicorn,
each stopped under traffic and started again."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.live.server import LiveServer, gunicorn
from tests.live.services import postgres_server, redis_server

pytestmark = pytest.mark.live
FAST_BREAKERS = {
    "BREAKER_FAIL_MAX": "3",
    "BREAKER_RESET_TIMEOUT": "2",
    "DB_CONNECT_TIMEOUT": "1",
    "RATE_LIMIT_DEFAULT": "100000/m",
}


@dataclass(frozen=True)
class Result:
    at: float
    kind: str
    status: int
    seconds: float
    contact_id: str | None = None
    content_type: str = ""


class Traffic:
    """Clients writing and reading contacts until stopped, recording every answer."""

    def __init__(self, server: LiveServer, clients: int = 4) -> None:
        self.server = server
        self.clients = clients
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=clients)

    def _loop(self, number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.server.token}"
        sequence = 0
        while not self._stop.is_set():
            sequence += 1
            write = sequence % 2 == 0
            started = time.monotonic()
            body: dict[str, Any] = {}
            try:
                if write:
                    response = session.post(
                        f"{self.server.url}/v1/contacts",
                        json={"name": f"client {number} write {sequence}"},
                        timeout=10,
                    )
                else:
                    response = session.get(f"{self.server.url}/v1/contacts?limit=5", timeout=10)
            except requests.RequestException:
                status, content_type = 0, ""
            else:
                status, content_type = (
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                )
                body = response.json() if "json" in content_type else {}
            created = body.get("id") if write and status == 201 else None
            with self._lock:
                self.results.append(
                    Result(
                        time.monotonic(),
                        "write" if write else "read",
                        status,
                        time.monotonic() - started,
                        created,
                        content_type,
                    )
                )
            time.sleep(0.01)

    def __enter__(self) -> Traffic:
        for number in range(self.clients):
            self._pool.submit(self._loop, number)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)

    def between(self, start: float, end: float) -> list[Result]:
        with self._lock:
            return [r for r in self.results if start <= r.at < end]


def health(server: LiveServer) -> requests.Response:
    return requests.get(f"{server.url}/v1/health", timeout=10)


def wait_until(predicate: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {seconds} s")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def test_database_outage_fails_fast_reports_and_recovers_without_losing_writes() -> None:
    with redis_server() as redis, postgres_server() as postgres:
        env = {**FAST_BREAKERS, "REDIS_URL": redis.url}
        with gunicorn(workers=2, env=env, database_url=postgres.url) as server:
            with Traffic(server) as traffic:
                time.sleep(2)
                down_at = time.monotonic()
                postgres.stop()
                time.sleep(1)  # the breaker opens after a few failures
                fast_from = time.monotonic()
                outage = health(server)
                time.sleep(2)
                postgres.start()
                up_at = time.monotonic()
                recovery = wait_until(lambda: health(server).status_code == 200, seconds=15)
                time.sleep(2)
                end = time.monotonic()

            during = traffic.between(fast_from, up_at)
            assert during, "no traffic while the database was down"
            assert all(r.status == 503 for r in during), {r.status for r in during}
            assert all(r.content_type == "application/problem+json" for r in during)
            fast = p99([r.seconds for r in during])
            print(  # measured numbers, for the record (pytest -s shows them)
                f"\ndatabase outage: {len(during)} requests while open, p99 {fast * 1000:.1f} ms,"
                f" recovered {recovery:.2f} s after restart"
            )
            assert fast < 0.2, f"p99 while open: {fast * 1000:.0f} ms"
            assert not [r for r in traffic.results if r.status >= 500 and r.status != 503]
            assert not [r for r in traffic.results if r.status == 0], "a request hung or failed"

            assert outage.status_code == 503
            body = outage.json()
            assert body["status"] == "unhealthy"
            assert body["circuitBreakers"]["database"]["state"] in {"open", "half-open"}
            assert recovery < 10

            after = traffic.between(up_at + recovery + 1, end)
            assert after
            assert all(r.status in (200, 201) for r in after), {r.status for r in after}

            # Every write that was acknowledged is there.
            acknowledged = [r.contact_id for r in traffic.results if r.contact_id]
            assert len(acknowledged) > 10
            assert [r for r in traffic.between(0, down_at) if r.kind == "write"]
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {server.token}"
            missing = [
                cid
                for cid in acknowledged
                if session.get(f"{server.url}/v1/contacts/{cid}", timeout=10).status_code != 200
            ]
            assert missing == []


def test_redis_outage_keeps_the_api_answering() -> None:
    with redis_server() as redis:
        env = {**FAST_BREAKERS, "REDIS_URL": redis.url}
        with gunicorn(workers=2, env=env) as server:
            with Traffic(server) as traffic:
                time.sleep(1.5)
                redis.stop()
                down_at = time.monotonic()
                waited = wait_until(
                    lambda: health(server).json().get("status") == "degraded", seconds=15
                )
                degraded = health(server).json()
                time.sleep(2)
                redis.start()
                up_at = time.monotonic()
                wait_until(lambda: health(server).json().get("status") == "healthy", seconds=20)
                time.sleep(1)
            during = traffic.between(down_at, up_at)
            assert during
            assert all(r.status in (200, 201) for r in during), {r.status for r in during}
            assert "cache" in degraded["circuitBreakers"]
            assert waited < 10
            # Rate limiting kept counting (per process) while Redis was away.
            response = requests.get(
                f"{server.url}/v1/health",
                headers={"Authorization": f"Bearer {server.token}"},
                timeout=10,
            )
            assert response.headers["X-RateLimit-Limit"] == "100000"
