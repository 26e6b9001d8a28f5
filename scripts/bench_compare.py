"""Side by side, in one run: the same cases against servers started from different trees or
settings, on one PostgreSQL database and Redis (the `make bench` data), to measure what a
change costs or buys at the defaults.

    python scripts/bench_compare.py before=/tmp/before after=. after-off=.:FAST_PATHS=off

Each server is `DIR[:NAME=VALUE,...]`: gunicorn started in DIR (its own gunicorn.conf.py and
WSGI module) with the environment given. BENCH_CASES picks cases by the start of their names
(`BENCH_CASES="health,contact detail"`). Cases run on every server back to back, twice, in
opposite orders; req/s is the mean of the two runs, p99 the worse. Prints a Markdown table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import (
    COOLDOWN,
    LOGS,
    WORKERS,
    Result,
    combined,
    prepare,
    result_of,
    wrk,
)

from tests.live.server import free_port, wait_healthy

DURATION = int(os.environ.get("BENCH_DURATION", "8"))
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]


def wsgi_of(tree: Path) -> tuple[str, str]:
    if (tree / "portal" / "config" / "wsgi.py").exists():
        return "portal.config.wsgi", "portal.config.settings"
    return "portal.wsgi", "portal.settings"


def main(argv: list[str]) -> int:
    specs = []
    for arg in argv:
        label, _, rest = arg.partition("=")
        where, _, extra = rest.partition(":")
        overrides = dict(item.split("=", 1) for item in extra.split(",") if item)
        specs.append((label, Path(where).resolve(), overrides))
    env, tokens, seeded = prepare()
    cases = [
        ("health", "/v1/health", None),
        ("contacts `limit=20`", "/v1/contacts?limit=20", "acme"),
        ("contacts `limit=100`", "/v1/contacts?limit=100", "acme"),
        ("contact detail", f"/v1/contacts/{seeded['contact']}", "acme"),
        ("jobs `limit=20`", "/v1/jobs?limit=20", "acme"),
        ("contacts, 1M", "/v1/contacts?limit=20", "bulk"),
    ]
    wanted = [name.strip() for name in os.environ.get("BENCH_CASES", "").split(",") if name.strip()]
    if wanted:
        cases = [case for case in cases if any(case[0].startswith(name) for name in wanted)]
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for label, tree, overrides in specs:
            port = free_port()
            app, settings = wsgi_of(tree)
            log = (LOGS / f"compare-{label}.log").open("ab")
            process = subprocess.Popen(
                [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), app],
                cwd=tree,
                env={**env, **overrides, "DJANGO_SETTINGS_MODULE": settings, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            servers[label] = (process, f"http://127.0.0.1:{port}")
            wait_healthy(servers[label][1], 60)
        labels = [label for label, _, _ in specs]
        runs: dict[tuple[str, str], list[Result]] = {}
        for name, path, slug in cases:
            token = tokens[slug] if slug else None
            for order in (labels, labels[::-1]):
                for label in order:
                    url = servers[label][1] + path
                    wrk(url, token, 3)
                    runs.setdefault((name, label), []).append(result_of(wrk(url, token, DURATION)))
                    time.sleep(COOLDOWN)
        print(
            "| case | " + " | ".join(f"{label} req/s | {label} p99 ms" for label in labels) + " |"
        )
        print("| --- |" + " ---: | ---: |" * len(labels))
        for name, _, _ in cases:
            cells = []
            for label in labels:
                result = combined(runs[(name, label)])
                cells += [f"{result.rps:,.0f}", f"{result.p99_ms:.1f}"]
                if result.errors:
                    cells[-1] += f" ({result.errors} errors)"
            print(f"| {name} | " + " | ".join(cells) + " |")
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
