"""Storage quotas and the disk floor with real processes: gunicorn with two workers (each with
its threads), PostgreSQL and Redis, uploads racing from many connections at once.

- However many uploads race for the last free slots, exactly the quota's worth is stored,
  and the tenant's usage says so.
- With the disk below its floor, every upload is a 507 problem before a byte is written, the
  storage breaker stays closed (health stays healthy), and reads go on.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live.server import gunicorn
from tests.live.services import postgres_server, redis_server

pytestmark = pytest.mark.live
UNLIMITED = {"RATE_LIMIT_DEFAULT": "100000/m", "RATE_LIMIT_FILES": "100000/m"}
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def session(token: str) -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def new_job(client: requests.Session, url: str) -> str:
    contact = client.post(f"{url}/v1/contacts", json={"name": "Files"}, timeout=10).json()
    job = client.post(
        f"{url}/v1/jobs", json={"title": "t", "contact_id": contact["id"]}, timeout=10
    )
    return str(job.json()["id"])


def test_racing_uploads_store_exactly_the_quota() -> None:
    env = {**UNLIMITED, "STORAGE_QUOTA_FILES": "5", "LOG_LEVEL": "INFO"}
    with (
        redis_server() as redis,
        postgres_server() as postgres,
        gunicorn(
            workers=2, env={**env, "REDIS_URL": redis.url}, database_url=postgres.url
        ) as server,
    ):
        job = new_job(session(server.token), server.url)

        def one(_: int) -> requests.Response:
            return session(server.token).post(
                f"{server.url}/v1/jobs/{job}/files",
                files={"file": ("a.pdf", PDF, "application/pdf")},
                timeout=30,
            )

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(one, range(24)))
        codes = sorted(response.status_code for response in responses)
        assert codes == [201] * 5 + [413] * 19, codes
        refused = next(r for r in responses if r.status_code == 413)
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "STORAGE_QUOTA_EXCEEDED"
        assert refused.json()["quota"] == "files"
        client = session(server.token)
        usage = client.get(f"{server.url}/v1/usage", timeout=10).json()["storage"]
        assert (usage["files"], usage["bytes"], usage["max_files"]) == (5, 5 * len(PDF), 5)
        listed = client.get(f"{server.url}/v1/jobs/{job}/files", timeout=10).json()
        assert listed["total"] == 5
        # A deletion frees a slot for the next upload.
        client.delete(f"{server.url}/v1/jobs/{job}/files/{listed['data'][0]['id']}", timeout=10)
        assert one(0).status_code == 201
        media = Path(server.env["MEDIA_ROOT"])
        assert len([p for p in media.rglob("*") if p.is_file()]) == 5


def test_uploads_stop_at_the_disk_floor_and_the_breaker_stays_closed(tmp_path: Path) -> None:
    # A floor above what the disk has: the state of a disk about to fill.
    floor = shutil.disk_usage(tmp_path).free + 1024**3
    env = {**UNLIMITED, "STORAGE_MIN_FREE_BYTES": str(floor)}
    with (
        redis_server() as redis,
        gunicorn(workers=2, env={**env, "REDIS_URL": redis.url}) as server,
    ):
        client = session(server.token)
        job = new_job(client, server.url)
        url = f"{server.url}/v1/jobs/{job}/files"
        with ThreadPoolExecutor(8) as pool:
            responses = list(
                pool.map(
                    lambda _: session(server.token).post(
                        url, files={"file": ("a.pdf", PDF, "application/pdf")}, timeout=30
                    ),
                    range(20),
                )
            )
        assert {r.status_code for r in responses} == {507}
        assert {r.json()["code"] for r in responses} == {"INSUFFICIENT_STORAGE"}
        health = requests.get(f"{server.url}/v1/health", timeout=10).json()
        assert health["status"] == "healthy", health
        assert client.get(url, timeout=10).status_code == 200
        media = Path(server.env["MEDIA_ROOT"])
        assert not [p for p in media.rglob("*") if p.is_file()]
