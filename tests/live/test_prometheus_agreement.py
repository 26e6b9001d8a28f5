"""Same traffic, same answer: real Prometheus (Debian's package) scraping a real gunicorn,
against the embedded metrics store, through `manage.py slo_report` on each source."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from ops.slo.sources import PrometheusSource, Window
from portal.observability.metrics import BUCKETS_MS
from tests.live.server import ROOT, LiveServer, free_port, gunicorn
from tests.live.services import redis_server, require

pytestmark = pytest.mark.live

# (path, headers, count): fast, slow and failing requests on two endpoints.
TRAFFIC: list[tuple[str, dict[str, str], int]] = [
    ("/v1/contacts", {}, 40),
    ("/v1/contacts", {"X-Fault-Delay-Ms": "120"}, 15),
    ("/v1/contacts", {"X-Fault-Delay-Ms": "450"}, 8),
    ("/v1/contacts", {"X-Fault-Status": "500"}, 6),
    ("/v1/jobs", {}, 45),
    ("/v1/jobs", {"X-Fault-Delay-Ms": "350"}, 10),
    ("/v1/jobs", {"X-Fault-Status": "503"}, 2),
]


@contextmanager
def prometheus(target: str) -> Iterator[str]:
    binary = require("prometheus", "prometheus")
    with tempfile.TemporaryDirectory(prefix="portal-prometheus-") as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: portal-api\n    metrics_path: /metrics\n"
            "    params:\n      format: [prometheus]\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=1):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def prom_value(url: str, promql: str) -> float:
    response = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    result = response["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def report(server: LiveServer, source: str, prometheus_url: str) -> dict[str, dict[str, Any]]:
    env = {**server.env, "PROMETHEUS_URL": prometheus_url}
    output = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "slo_report",
            "--format",
            "json",
            "--source",
            source,
            "--window",
            "5m",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {row["objective"]: row for row in json.loads(output)}


SERIES = """
import json
from datetime import timedelta
from ops.slo.sources import EmbeddedSource, PrometheusSource, Window
window = Window(timedelta(minutes=10), endpoint="/v*/contacts")
out = {}
for source in (EmbeddedSource(), PrometheusSource()):
    points = source.series(window, timedelta(minutes=1))
    out[source.name] = [len(points), sum(p.counts.requests for p in points),
                        sum(p.counts.errors for p in points)]
print(json.dumps(out))
"""


def series_totals(server: LiveServer, prometheus_url: str) -> dict[str, list[int]]:
    """The dashboard's time series from each source, summed over their steps."""
    env = {**server.env, "PROMETHEUS_URL": prometheus_url}
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SERIES],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    totals: dict[str, list[int]] = json.loads(output.strip().splitlines()[-1])
    return totals


def bucket_of(value: float) -> float:
    return next((b for b in BUCKETS_MS if value <= b), float("inf"))


def test_prometheus_and_the_embedded_store_agree() -> None:
    env = {
        "FAULT_INJECTION": "true",
        "METRICS_FLUSH_SECONDS": "1",
        "RATE_LIMIT_DEFAULT": "100000/m",
    }
    with (
        redis_server() as redis,
        gunicorn(workers=2, env={**env, "REDIS_URL": redis.url}) as server,
    ):
        target = server.url.removeprefix("http://")
        with prometheus(target) as prom:
            headers = {"Authorization": f"Bearer {server.token}"}
            # rate() only sees increases after a series' first scrape: create each endpoint's
            # series with one request and wait until Prometheus has scraped them.
            for path in ("/v1/contacts", "/v1/jobs"):
                requests.get(f"{server.url}{path}", headers=headers, timeout=10)
            deadline = time.monotonic() + 30
            warm = 'count(http_requests_total{endpoint=~"/v\\\\*/(contacts|jobs)"})'
            while prom_value(prom, warm) != 2 and time.monotonic() < deadline:
                time.sleep(0.3)
            calls = [(p, h) for p, h, n in TRAFFIC for _ in range(n)]

            def call(item: tuple[str, dict[str, str]]) -> int:
                path, extra = item
                url = f"{server.url}{path}"
                return requests.get(url, headers={**headers, **extra}, timeout=30).status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(call, calls))
            assert statuses.count(500) == 6
            assert statuses.count(503) == 2

            # Wait for Prometheus to scrape everything, and for the store to flush.
            contacts = 'sum(http_requests_total{endpoint="/v*/contacts"})'
            deadline = time.monotonic() + 30
            while prom_value(prom, contacts) != 70 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert prom_value(prom, contacts) == 70
            time.sleep(3)

            embedded = report(server, "embedded", prom)
            from_prometheus = report(server, "prometheus", prom)
            series = series_totals(server, prom)
            # The usual dashboard query (histogram_quantile over rate()) lands in the bucket.
            seed_p95 = PrometheusSource(url=prom).seed_quantile(
                0.95, Window(timedelta(minutes=5), endpoint="/v*/contacts")
            )

    assert embedded.keys() == from_prometheus.keys()
    # The dashboard's series: ten one-minute steps holding every contacts request and error.
    assert series["embedded"] == [10, 70, 6]
    assert series["prometheus"] == [10, 70, 6]
    assert seed_p95 is not None
    assert bucket_of(seed_p95) == bucket_of(embedded["Contacts p95 < 300 ms"]["p95_ms"])
    contacts_p95 = embedded["Contacts p95 < 300 ms"]
    # The traffic plus one warm-up request per endpoint.
    assert contacts_p95["samples"] == 70
    assert contacts_p95["error_rate"] == pytest.approx(6 / 70)
    assert embedded["Jobs p95 < 400 ms"]["samples"] == 58
    for name, mine in embedded.items():
        theirs = from_prometheus[name]
        # Counts, SLIs, verdicts and error rates exactly; quantiles within bucket resolution.
        assert theirs["samples"] == mine["samples"], name
        assert theirs["verdict"] == mine["verdict"], name
        for key in ("sli", "error_rate"):
            if mine[key] is None:
                assert theirs[key] is None, (name, key)
            else:
                assert theirs[key] == pytest.approx(mine[key], abs=1e-9), (name, key)
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            if mine[key] is not None:
                assert bucket_of(theirs[key]) == bucket_of(mine[key]), (name, key)
