"""Persistent database connections that die between requests (a PostgreSQL restart, a
failover, an idle-connection reaper, `pg_terminate_backend`) cost no read request anything:
the first read of a request on a dead connection runs again on a new one (portal/db/postgresql).
A real gunicorn with several workers, under load, while the app's connections that sit idle
between requests are killed again and again."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.live.server import gunicorn
from tests.live.services import postgres_server, redis_server

pytestmark = pytest.mark.live


def test_no_read_fails_when_idle_connections_are_killed_under_load() -> None:
    with (
        postgres_server() as database,
        redis_server() as redis,
        gunicorn(
            workers=2,
            database_url=database.url,
            env={"REDIS_URL": redis.url, "RATE_LIMIT_DEFAULT": "1000000/m"},
        ) as server,
    ):
        headers = {"Authorization": f"Bearer {server.token}"}
        created = requests.post(
            f"{server.url}/v1/contacts", json={"name": "Kept"}, headers=headers, timeout=10
        )
        assert created.status_code == 201
        paths = ["/v1/contacts?limit=5", f"/v1/contacts/{created.json()['id']}", "/v1/jobs"]
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with requests.Session() as session:
                n = 0
                while not stop.is_set():
                    path = paths[n % len(paths)]
                    n += 1
                    status = session.get(f"{server.url}{path}", headers=headers, timeout=10)
                    statuses[status.status_code] += 1
                    time.sleep(0.02)  # a client's pace: connections sit idle between requests

        # Warm first: every worker holds the token and has stamped its last use, so each of
        # these requests is one statement. (A request of several statements whose connection
        # dies between two of them fails, with or without a retry of the first.)
        with ThreadPoolExecutor(max_workers=8) as pool:
            warm = Counter(
                pool.map(
                    lambda n: (
                        requests.get(
                            f"{server.url}{paths[n % len(paths)]}", headers=headers, timeout=10
                        ).status_code
                    ),
                    range(300),
                )
            )
        assert warm == Counter({200: 300})
        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        killed = 0
        try:
            with psycopg.connect(database.url, autocommit=True) as admin:
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:
                    time.sleep(0.1)
                    # Connections idle for 30 ms at least: between requests. (One idle
                    # for an instant may be one just opened for a retry, about to run it.)
                    rows = admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend' AND state = 'idle' "
                        "AND state_change < now() - interval '30 milliseconds'"
                    ).fetchall()
                    killed += len(rows)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert killed >= 20, f"only {killed} connections were killed"
        print(f"killed {killed} idle connections during {sum(statuses.values())} requests")
        assert sum(statuses.values()) >= 100
        assert statuses == Counter({200: sum(statuses.values())}), statuses
