"""`make bench`: Portal API under wrk on PostgreSQL + Redis with realistic data, beside a bare
Django baseline (bench/) answering the same JSON from the same queries; writes BENCHMARKS.md.

Data: the demo tenant (acme: 1,247 contacts, 342 jobs, a job with a file) plus a tenant with
1,000,000 contacts. Each endpoint gets a warm-up, then a fixed-concurrency wrk run; queries per
request are counted in-process with Django's test client; worker RSS is read from /proc.
Needs PostgreSQL, Redis and wrk (apt-get install wrk). No numbers here are asserted anywhere.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import psycopg  # noqa: E402

from tests.live.server import LiveServer, gunicorn  # noqa: E402 - needs the path above

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CONTACTS = int(os.environ.get("BENCH_CONTACTS", "1000000"))
DURATION = int(os.environ.get("BENCH_DURATION", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
COOLDOWN = float(os.environ.get("BENCH_COOLDOWN", "6"))
OUTPUT = ROOT / os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md")
REPORTER = ROOT / "scripts" / "wrk_report.lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
GIT = shutil.which("git") or "/usr/bin/git"

SEED = """
import json
from django.db import connection
from contacts.models import Contact
from portal.models import Tenant
tenant = Tenant.objects.get(slug="bulk")
with connection.cursor() as cursor:
    cursor.execute(
        f"INSERT INTO {Contact._meta.db_table} "
        "(id, tenant_id, name, email, phone, company, created_at, updated_at) "
        "SELECT gen_random_uuid(), %s, 'Contact ' || g, 'contact' || g || '@bulk.example.com', "
        "'+1 555 ' || lpad(g::text, 7, '0'), "
        "(ARRAY['Acme','Globex','Initech','Umbrella'])[1 + g %% 4], "
        "now() - g * interval '1 second', now() - g * interval '1 second' "
        "FROM generate_series(1, %s) AS g",
        [tenant.pk, COUNT],
    )
    # Steady state, as autovacuum leaves it: statistics, and the GIN pending list merged.
    cursor.execute(f"VACUUM ANALYZE {Contact._meta.db_table}")
one = Contact.objects.filter(tenant=tenant).order_by("-created_at")[500]
print(json.dumps({"contact": str(one.pk), "count": Contact.objects.filter(tenant=tenant).count()}))
"""

QUERIES = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
out = {}
for name, path, token in CASES:
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(path)  # warm: token last-used stamp, caches
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    out[name] = {"queries": len(queries), "status": status}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    tenant: str  # whose token: acme (demo) or bulk (1M contacts)
    baseline: bool = True  # the bare view serves it too


@dataclass
class Result:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    queries: int | None = None
    rss_mib: float | None = None


def manage(env: dict[str, str], *args: str, settings: str = "portal.settings") -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env={**env, "DJANGO_SETTINGS_MODULE": settings},
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr}")
    return result.stdout


def fresh_database() -> None:
    url = urllib.parse.urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = urllib.parse.urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def worker_rss_mib(master: int) -> float:
    """The largest resident set among gunicorn's workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return max(sizes, default=0.0)


def wrk(url: str, token: str, seconds: int) -> dict[str, Any]:
    command = [
        WRK,
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(REPORTER),
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("{"))
    report: dict[str, Any] = json.loads(line)
    return report


def measure(server: LiveServer, case: Case, tokens: dict[str, str]) -> Result:
    url = f"{server.url}{case.path}"
    wrk(url, tokens[case.tenant], 3)  # warm-up: connections, caches, the query planner
    report = wrk(url, tokens[case.tenant], DURATION)
    errors = sum(
        report[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return Result(
        rps=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        requests=report["requests"],
        errors=errors,
        rss_mib=worker_rss_mib(server.pid),
    )


def count_queries(
    env: dict[str, str], cases: list[Case], tokens: dict[str, str], settings: str
) -> dict[str, int]:
    script = f"CASES = {[(c.name, c.path, tokens[c.tenant]) for c in cases]!r}\n{QUERIES}"
    output = manage(env, "shell", "-c", script, settings=settings)
    counted = json.loads(output.strip().splitlines()[-1])
    for name, row in counted.items():
        if row["status"] != 200:
            raise SystemExit(f"{name} answered {row['status']} in the query count run")
    return {name: row["queries"] for name, row in counted.items()}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return f"{cpu}, {os.cpu_count()} cores, {memory} GiB RAM, {platform.platform()}"


def versions() -> str:
    with psycopg.connect(DATABASE_URL) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    pg = row[0] if row else "?"
    wrk_version = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrk_version.stdout or wrk_version.stderr).splitlines()[0]
    return (
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"PostgreSQL {pg.split()[0]}, {wrk_line.split(' [')[0]}"
    )


def commit() -> str:
    head = subprocess.run(
        [GIT, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        [GIT, "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def write_report(
    cases: list[Case], portal: dict[str, Result], bare: dict[str, Result], started: datetime
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`scripts/benchmark.py`); numbers from one run, not asserted "
        "by any test. Re-run on your machine before comparing.",
        "",
        f"- **Date**: {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine**: {machine()}",
        f"- **Software**: {versions()}",
        f"- **Commit**: {commit()}",
        f"- **Server**: gunicorn, {WORKERS} workers x {THREADS} threads (gthread), "
        "PostgreSQL and Redis on the same machine, persistent database connections; "
        "request logging off (LOG_LEVEL=WARNING), rate limits raised out of the way, "
        "everything else as in production (middleware, metrics, the embedded metrics store).",
        f"- **Load**: wrk, {WRK_THREADS} threads, {CONNECTIONS} connections, {DURATION} s per "
        "endpoint after a 3 s warm-up, on the same 2-core machine as the server (so both "
        "compete for the CPU).",
        f"- **Data**: the demo tenant `acme` (1,247 contacts, 342 jobs, one job with a file) "
        f"and `bulk`, a tenant with {CONTACTS:,} contacts.",
        "- **Baseline**: `bench/`: plain Django views, no middleware, no DRF, the same queries "
        "(token, count, page) and JSON: the framework's ceiling on this machine.",
        "",
        "| endpoint | tenant | req/s | p50 ms | p95 ms | p99 ms | errors | queries/req | "
        "worker RSS MiB | bare req/s | bare p99 ms | bare queries/req | API / bare |",
        "| --- | --- |" + " ---: |" * 11,
    ]
    for case in cases:
        mine = portal[case.name]
        theirs = bare.get(case.name)
        ratio = f"{mine.rps / theirs.rps:.0%}" if theirs and theirs.rps else "n/a"
        lines.append(
            f"| {case.name} `{case.path}` | {case.tenant} | {mine.rps:,.0f} | {mine.p50_ms:.1f} | "
            f"{mine.p95_ms:.1f} | {mine.p99_ms:.1f} | {mine.errors} | {mine.queries} | "
            f"{mine.rss_mib:.0f} | "
            + (
                f"{theirs.rps:,.0f} | {theirs.p99_ms:.1f} | {theirs.queries} | "
                if theirs
                else "n/a | n/a | n/a | "
            )
            + f"{ratio} |"
        )
    lines += [
        "",
        "Errors count connection errors, timeouts and non-2xx answers. Queries per request are "
        "counted in-process on a warm request (the token's last-used stamp is written at most "
        "once a minute, so it is not in the steady state).",
        "",
    ]
    OUTPUT.write_text("\n".join(lines))


def main() -> int:
    if not Path(WRK).exists():
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    started = datetime.now(UTC)
    print(f"Preparing {DATABASE_URL} with {CONTACTS:,} contacts…", flush=True)
    fresh_database()
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_DEFAULT": "100000000/m",
        "RATE_LIMIT_FILES": "100000000/m",
        "LOG_LEVEL": "WARNING",
        "MEDIA_ROOT": str(ROOT / "var" / "bench-media"),
        "WEB_CONCURRENCY": str(WORKERS),
        "GUNICORN_THREADS": str(THREADS),
    }
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    manage(env, "create_tenant", "bulk")
    tokens = {
        slug: manage(env, "create_token", "--tenant", slug, "--name", "bench").splitlines()[-1]
        for slug in ("acme", "bulk")
    }
    seeding = time.monotonic()
    seeded = json.loads(
        # The production statement timeout (5 s) is for requests, not a million-row insert.
        manage(
            {**env, "DB_STATEMENT_TIMEOUT_MS": "600000"},
            "shell",
            "-c",
            f"COUNT = {CONTACTS}\n{SEED}",
        )
        .strip()
        .splitlines()[-1]
    )
    print(f"Seeded {seeded['count']:,} contacts in {time.monotonic() - seeding:.0f} s", flush=True)
    size = "1M" if CONTACTS == 1_000_000 else f"{CONTACTS:,}"
    cases = [
        Case("health", "/v1/health", "acme"),
        Case("contacts list", "/v1/contacts?limit=20", "acme"),
        Case(f"contacts list, {size}", "/v1/contacts?limit=20", "bulk"),
        Case(
            f"contacts list, {size}, deep page",
            f"/v1/contacts?limit=20&offset={CONTACTS // 2}",
            "bulk",
        ),
        Case(f"contacts search, {size}", "/v1/contacts?limit=20&q=contact12345", "bulk", False),
        Case(f"contact detail, {size}", f"/v1/contacts/{seeded['contact']}", "bulk"),
        Case("jobs list", "/v1/jobs?limit=20", "acme"),
        Case("files list", "/v1/jobs/job_prod_test/files", "acme"),
    ]
    results: dict[str, dict[str, Result]] = {"portal": {}, "bare": {}}
    for label, app, settings in (
        ("portal", "portal.wsgi", "portal.settings"),
        ("bare", "bench.wsgi", "bench.settings"),
    ):
        mine = [c for c in cases if label == "portal" or c.baseline]
        queries = count_queries(env, mine, tokens, settings)
        server_env = {**env, "DJANGO_SETTINGS_MODULE": settings}
        with gunicorn(
            workers=WORKERS, env=server_env, database_url=DATABASE_URL, prepare=False, app=app
        ) as server:
            for case in mine:
                # Requests a slow case left running (up to the 5 s statement timeout) must not
                # weigh on the next one.
                time.sleep(COOLDOWN)
                result = measure(server, case, tokens)
                result.queries = queries[case.name]
                results[label][case.name] = result
                print(
                    f"{label:6} {case.name:32} {result.rps:8,.0f} req/s  p99 "
                    f"{result.p99_ms:7.1f} ms  errors {result.errors}",
                    flush=True,
                )
    write_report(cases, results["portal"], results["bare"], started)
    print(f"Wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
