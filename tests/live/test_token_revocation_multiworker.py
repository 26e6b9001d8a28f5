"""Token revocation across gunicorn workers sharing Redis: every worker has the token cached,
and the first request after `revoke_token` — whichever worker takes it — is refused."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live.server import ROOT, gunicorn
from tests.live.services import redis_server

pytestmark = pytest.mark.live


def test_a_revoked_token_is_refused_by_every_worker_at_once() -> None:
    with (
        redis_server() as redis,
        gunicorn(
            workers=4, env={"REDIS_URL": redis.url, "RATE_LIMIT_DEFAULT": "100000/m"}
        ) as server,
    ):
        headers = {"Authorization": f"Bearer {server.token}"}

        def fire(count: int) -> Counter[int]:
            def one(_: int) -> int:
                return requests.get(
                    f"{server.url}/v1/contacts", headers=headers, timeout=30
                ).status_code

            with ThreadPoolExecutor(max_workers=16) as pool:
                return Counter(pool.map(one, range(count)))

        # Warm every worker's cache (200 requests over 4 workers).
        assert fire(200) == Counter({200: 200})
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from portal.models import ApiToken; "
             "from portal.tenancy.services import token_revoke; "
             "[token_revoke(token=t) for t in ApiToken.objects.filter(name='live')]"],
            cwd=ROOT, env=server.env, check=True, capture_output=True,
        )  # fmt: skip
        assert fire(200) == Counter({401: 200})
