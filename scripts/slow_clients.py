"""What 50 slow clients do to another tenant, with the shipped worker and with gunicorn's stock
`gthread` side by side, on `make run`'s server, the image's entry point (2 workers) and the
shipped nginx config in front: `make bench-slow-clients` (about 8 minutes; the stock worker's
starved requests each wait out their 5 s timeout).

The result replaces the section between the markers below in BENCHMARKS.md (`make bench`
keeps it).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchmark  # noqa: E402 - scripts/, this file's folder

from tests.live import slow_clients  # noqa: E402 - needs the path above

OUTPUT = benchmark.OUTPUT
START, END = "<!-- slow-clients:start -->", "<!-- slow-clients:end -->"
COUNT = int(os.environ.get("SLOW_CLIENTS", "50"))
ROUNDS = {"on": 60, "off": 3}  # a starved round costs 10 s


def measure() -> list[str]:
    rows = []
    for kind in slow_clients.KINDS:
        for buffering in ("on", "off"):
            with slow_clients.served(kind, {"WORKER_BUFFERING": buffering}) as target:
                slow_clients.victim(target, rounds=20)  # warm
                seen = {"none": slow_clients.victim(target, rounds=ROUNDS[buffering])}
                for shape in slow_clients.SHAPES:
                    with slow_clients.attack(target, shape, COUNT):
                        seen[shape] = slow_clients.victim(target, rounds=ROUNDS[buffering])
            worker = "portal.resilience.worker (shipped)" if buffering == "on" else "stock gthread"
            for shape, result in seen.items():
                rows.append(
                    f"| {kind} | {worker} | {shape} | {result.p95_ms:,.0f} "
                    f"| {result.ok}/{result.total} | {result.health_ok}/{result.health_total} |"
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    started = datetime.now(UTC)
    rows = measure()
    section = "\n".join(
        [
            START,
            "## Slow clients (`make bench-slow-clients`)",
            "",
            f"- **Date**: {started:%Y-%m-%d %H:%M} UTC; **commit**: {benchmark.commit()}",
            f"- **Machine**: {benchmark.machine()}",
            f"- **Attack**: {COUNT} connections of one shape at a time, kept slow for the whole "
            "measurement (tests/live/slow_clients.py): headers a byte a second; a tenant's "
            "upload body a byte a second; an anonymous JSON body a byte a second; a tenant's "
            "4 MiB download never read.",
            "- **Victim**: another tenant's contact list and anonymous health, one after the "
            "other, 5 s timeout (a timeout counts as 5,000 ms).",
            "- **Servers**: `make-run` is `make run`'s gunicorn (1 worker, 4 threads, SQLite, "
            "in-process cache); `entrypoint` is `docker/entrypoint.sh serve` with "
            "PORTAL_ENV=production, 2 workers of 4 threads and Redis; `nginx` is that behind "
            "deploy/nginx/portal-api.conf. Defaults throughout (request log on) except the "
            "rate limits, raised so the victim is never refused.",
            "",
            "| server | worker | attack | victim p95 ms | contact lists ok | health ok |",
            "| --- | --- | --- | ---: | ---: | ---: |",
            *rows,
            END,
        ]
    )
    text = OUTPUT.read_text() if OUTPUT.exists() else ""
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    OUTPUT.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
