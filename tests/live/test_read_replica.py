"""The read replica behind `DATABASE_REPLICA_URL`, on a real streaming replica: a second
PostgreSQL started by the test with pg_basebackup from the primary.

Replay on the standby is paused to make "which database answered" visible: a row written on
the primary while replay is paused exists only there."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import requests

from tests.live.server import ROOT, LiveServer, gunicorn
from tests.live.services import (
    PostgresServer,
    postgres_replica,
    postgres_server,
    redis_server,
)

pytestmark = pytest.mark.live

PIN_SECONDS = 2


def _sql(server: PostgresServer, statement: str) -> object:
    with psycopg.connect(server.url, autocommit=True) as conn:
        row = conn.execute(statement).fetchone()
        return row[0] if row else None


def _wait_caught_up(primary: PostgresServer, replica: PostgresServer) -> None:
    target = _sql(primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = _sql(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
        if done:
            return
        time.sleep(0.1)
    raise AssertionError("the replica never caught up")


@contextmanager
def replay_paused(primary: PostgresServer, replica: PostgresServer) -> Iterator[None]:
    """The standby caught up, then frozen: a write made meanwhile exists on the primary only."""
    _wait_caught_up(primary, replica)
    _sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        _sql(replica, "SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[LiveServer, PostgresServer, PostgresServer]]:
    with (
        postgres_server() as primary,
        postgres_replica(primary) as replica,
        redis_server() as redis,
        gunicorn(
            workers=2,
            database_url=primary.url,
            env={
                "DATABASE_REPLICA_URL": replica.url,
                "REDIS_URL": redis.url,
                "REPLICA_PIN_SECONDS": str(PIN_SECONDS),
                "REPLICA_RETRY_SECONDS": "2",
                "RATE_LIMIT_DEFAULT": "100000/m",
            },
        ) as server,
    ):
        yield server, primary, replica


def _names(server: LiveServer, headers: dict[str, str]) -> set[str]:
    response = requests.get(f"{server.url}/v1/contacts?limit=100", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return {row["name"] for row in response.json()["data"]}


def test_reads_come_from_the_replica_and_a_tenant_reads_its_own_writes(
    stack: tuple[LiveServer, PostgresServer, PostgresServer],
) -> None:
    server, primary, replica = stack
    headers = {"Authorization": f"Bearer {server.token}"}
    with replay_paused(primary, replica):
        created = requests.post(
            f"{server.url}/v1/contacts",
            json={"name": "Written while replay is paused"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        contact = created.json()
        # Pinned to the primary after its own write: the writer sees it at once, on every
        # worker (the pin is in the shared cache).
        for _ in range(6):
            assert "Written while replay is paused" in _names(server, headers)
        detail = requests.get(
            f"{server.url}/v1/contacts/{contact['id']}", headers=headers, timeout=10
        )
        assert detail.status_code == 200
        # Once the pin lapses, reads go to the replica, which has not replayed the write yet.
        time.sleep(PIN_SECONDS + 0.5)
        assert "Written while replay is paused" not in _names(server, headers)
    _wait_caught_up(primary, replica)
    assert "Written while replay is paused" in _names(server, headers)


def test_writes_and_tokens_stay_on_the_primary(
    stack: tuple[LiveServer, PostgresServer, PostgresServer],
) -> None:
    server, primary, replica = stack
    headers = {"Authorization": f"Bearer {server.token}"}
    with replay_paused(primary, replica):
        # A token created on the primary works before the replica has it: authentication
        # never reads the replica.
        fresh = subprocess.run(
            [sys.executable, "manage.py", "create_token", "--tenant", "acme", "--name", "fresh"],
            cwd=ROOT,
            env=server.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
        assert _names(server, {"Authorization": f"Bearer {fresh}"})
        contact = requests.post(
            f"{server.url}/v1/contacts", json={"name": "Primary"}, headers=headers, timeout=10
        ).json()
        # The job's contact is looked up where it was just written: a read inside a write.
        job = requests.post(
            f"{server.url}/v1/jobs",
            json={"title": "On the primary", "contact_id": contact["id"]},
            headers=headers,
            timeout=10,
        )
        assert job.status_code == 201, job.text
        query = "SELECT count(*) FROM jobs_job WHERE title = 'On the primary'"
        assert (_sql(primary, query), _sql(replica, query)) == (1, 0)


def test_a_replica_outage_costs_no_errors(
    stack: tuple[LiveServer, PostgresServer, PostgresServer],
) -> None:
    server, primary, replica = stack
    headers = {"Authorization": f"Bearer {server.token}"}
    requests.post(f"{server.url}/v1/contacts", json={"name": "Kept"}, headers=headers, timeout=10)
    _wait_caught_up(primary, replica)
    time.sleep(PIN_SECONDS + 0.5)
    # Both workers read the replica and keep their connections to it open.
    for _ in range(6):
        assert "Kept" in _names(server, headers)
    replica.stop()
    try:
        for _ in range(20):
            assert "Kept" in _names(server, headers)
        health = requests.get(f"{server.url}/v1/health", timeout=10)
        assert health.status_code == 200
    finally:
        replica.start()
    _wait_caught_up(primary, replica)
    assert requests.get(f"{server.url}/v1/contacts", headers=headers, timeout=10).status_code == 200
