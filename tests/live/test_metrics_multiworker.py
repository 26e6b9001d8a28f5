"""/metrics counts every worker's requests (prometheus-client multiprocess mode)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live.server import gunicorn
from tests.live.services import redis_server

pytestmark = pytest.mark.live
N = 150


def scraped(url: str, endpoint: str) -> float:
    text = requests.get(f"{url}/metrics?format=prometheus", timeout=10).text
    labels = rf'endpoint="{re.escape(endpoint)}",method="GET",traffic="customer",version="[^"]+"'
    pattern = rf"^http_requests_total{{{labels}}} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_the_scraped_counter_equals_the_requests_sent_across_three_workers() -> None:
    with redis_server() as redis:
        env = {"REDIS_URL": redis.url, "RATE_LIMIT_DEFAULT": "100000/m"}
        with gunicorn(workers=3, env=env) as server:
            before = scraped(server.url, "/v*/contacts")
            headers = {"Authorization": f"Bearer {server.token}"}

            def one(_: int) -> int:
                url = f"{server.url}/v1/contacts"
                return requests.get(url, headers=headers, timeout=10).status_code

            with ThreadPoolExecutor(max_workers=12) as pool:
                statuses = list(pool.map(one, range(N)))
            assert statuses == [200] * N
            assert scraped(server.url, "/v*/contacts") == before + N


def test_the_error_counter_is_exported_at_zero_before_any_error() -> None:
    with gunicorn(workers=1, env={"REDIS_URL": ""}) as server:
        requests.get(f"{server.url}/v1/health", timeout=10)
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        assert "# TYPE http_requests_errors_total counter" in text
        assert re.search(
            r'^http_requests_errors_total\{endpoint="/v\*/health".*\} 0\.0$', text, re.M
        )
