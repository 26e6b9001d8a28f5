"""How often the baseline judge holds up an identical canary on a busy machine: `make
bench-judge`.

Two gunicorns of this same code (as shipped: 2 workers, request log on, the embedded metrics
store), one labelled 1.0.0 (stable) and one 1.0.1 (canary), on one SQLite database; the demo
tenant's customer requests to both at the same steady rate over health, contacts, jobs and a
job's files; and, for the whole run, one busy-looping process per core, so the servers compete
for the CPU as they do on a machine busy with other work. Every whole minute the judge is run
over that minute on each objective endpoint, as the `baseline` gate runs it (customer traffic,
the plan defaults), and side by side with the floor turned off (`min_difference_ms: 0`, what a
user who trusts significance alone would pick). A judgement that is not a pass would have
extended the bake (marginal, no data) or rolled the canary back (fail): a false pause.

The result replaces the section between the markers below in BENCHMARKS.md (`make bench`
keeps it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchmark  # noqa: E402 - scripts/, this file's folder

from tests.live.server import gunicorn  # noqa: E402 - needs the path above
from tests.live.services import redis_server  # noqa: E402

OUTPUT = benchmark.OUTPUT
START, END = benchmark.JUDGE_NOISE_START, benchmark.JUDGE_NOISE_END
MINUTES = int(os.environ.get("JUDGE_NOISE_MINUTES", "12"))
RATE = float(os.environ.get("JUDGE_NOISE_RATE", "12"))  # requests a second per path and server
PATHS = ("/v1/health", "/v1/contacts?limit=20", "/v1/jobs?limit=20", "/v1/jobs/{job}/files")
SETTINGS = {"defaults": {}, "no floor": {"min_difference_ms": 0}}


def busy_loops() -> list[subprocess.Popen[bytes]]:
    """One busy process per core: the machine is busy with other work."""
    spin = "import time\nwhile True:\n    sum(range(1000))\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)]


def drive(urls: list[str], token: str, job: str, stop: threading.Event) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    paths = [path.format(job=job) for path in PATHS]
    interval = 1 / (RATE * len(paths))
    while not stop.is_set():
        for path in paths:
            began = time.monotonic()
            for url in urls:  # both servers, back to back: the same moments for each
                with contextlib.suppress(requests.RequestException):
                    session.get(f"{url}{path}", timeout=10)
            stop.wait(max(0.0, interval - (time.monotonic() - began)))


def judge_minute(minute: datetime) -> dict[str, Counter[str]]:
    from ops.models import SLObjective
    from ops.rollouts.judge import judge
    from ops.slo.sources import EmbeddedSource, Window

    source = EmbeddedSource()
    endpoints = sorted(
        set(SLObjective.objects.filter(is_active=True).values_list("endpoint", flat=True))
    )
    verdicts: dict[str, Counter[str]] = {name: Counter() for name in SETTINGS}
    for endpoint in endpoints:
        sides = [
            source.counts(
                Window(length=timedelta(minutes=1), endpoint=endpoint or None, version=v, at=minute)
            )
            for v in ("1.0.1", "1.0.0")
        ]
        SAMPLES.setdefault(endpoint or "all API routes", []).append(
            min(sides[0].requests, sides[1].requests)
        )
        for name, params in SETTINGS.items():
            verdicts[name][judge({endpoint: (sides[0], sides[1])}, params).verdict] += 1
    return verdicts


# Requests a side in each judged minute, per endpoint: what the judge had to decide on.
SAMPLES: dict[str, list[int]] = {}


def main() -> int:
    started = datetime.now(UTC)
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="portal-judge-noise-") as tmp,
    ):
        database = f"sqlite:///{tmp}/shared.sqlite3"
        redis = stack.enter_context(redis_server())  # 2 workers share breakers and limits
        env = {
            "MEDIA_ROOT": f"{tmp}/media",
            "RATE_LIMIT_DEFAULT": "100000/m",
            "REDIS_URL": redis.url,
            "LOG_LEVEL": "INFO",  # the request log on, as shipped
        }
        logs = ROOT / "var" / "judge-noise.log"  # the servers' request logs, kept
        logs.parent.mkdir(exist_ok=True)
        logs.unlink(missing_ok=True)
        with (
            gunicorn(
                env={**env, "APP_VERSION": "1.0.0"},
                database_url=database,
                seed_demo=True,
                log_path=logs,
            ) as stable,
            gunicorn(
                env={**env, "APP_VERSION": "1.0.1"},
                database_url=database,
                prepare=False,
                log_path=logs,
            ) as canary,
        ):
            os.environ["DATABASE_URL"] = database
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.config.settings")
            import django

            django.setup()
            from jobs.models import Job

            job = Job.objects.filter(tenant__slug="acme", files__isnull=False).first()
            if job is None:
                raise SystemExit("The demo data has no job with a file")
            loops = busy_loops()
            stop = threading.Event()
            client = threading.Thread(
                target=drive, args=([stable.url, canary.url], stable.token, job.pk, stop)
            )
            client.start()
            totals: dict[str, Counter[str]] = {name: Counter() for name in SETTINGS}
            try:
                now = datetime.now(UTC)
                first = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
                for index in range(MINUTES + 1):
                    minute = first + timedelta(minutes=index)
                    # The minute after `minute` ends, plus the store's flush interval and a margin.
                    wake = minute + timedelta(minutes=1, seconds=8)
                    time.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
                    if index == 0:
                        continue  # the first whole minute warms both servers up
                    for name, counted in judge_minute(minute + timedelta(minutes=1)).items():
                        totals[name].update(counted)
                    print(f"minute {index}: {dict(totals['defaults'])}", flush=True)
            finally:
                stop.set()
                client.join(30)
                for loop in loops:
                    loop.kill()
    write(totals, started)
    return 0


def bounds(totals: dict[str, Counter[str]]) -> list[str]:
    """What the counts say about the rate: with none held up, the rule of three's 95 % bound."""
    lines = []
    for name, counted in totals.items():
        judged = sum(counted.values())
        held = judged - counted["pass"]
        if judged and not held:
            lines.append(
                f"- {name}: none of {judged} held up; the false-pause rate per judged minute "
                f"and endpoint is below about {3 / judged:.0%} (95 %, the rule of three)."
            )
        elif judged:
            lines.append(f"- {name}: {held} of {judged} held up ({held / judged:.1%}).")
    return lines


def write(totals: dict[str, Counter[str]], started: datetime) -> None:
    rows = []
    for name, counted in totals.items():
        judged = sum(counted.values())
        held = judged - counted["pass"]
        rows.append(
            f"| {name} | {judged} | {counted['pass']} | {counted['marginal']} | {counted['fail']} "
            f"| {counted['nodata']} | {held / judged:.1%} |"
            if judged
            else f"| {name} | 0 | | | | | |"
        )
    section = "\n".join(
        [
            START,
            "## False pauses of identical canaries (`make bench-judge`)",
            "",
            f"- **Date**: {started:%Y-%m-%d %H:%M} UTC; **commit**: {benchmark.commit()}",
            f"- **Machine**: {benchmark.machine()}, with one busy-looping process per core "
            "for the whole run (the servers compete for the CPU).",
            "- **Servers**: two gunicorns of the same code as shipped (2 workers, request log "
            "on, embedded metrics store), labelled 1.0.0 and 1.0.1, on one SQLite database "
            "and one Redis.",
            f"- **Traffic**: the demo tenant's requests, one client sending each of "
            f"{', '.join(PATHS)} to both servers in turn, paced at up to {RATE:g} a second per "
            "path and server (what it achieved is below).",
            f"- **Judged**: each of {MINUTES} whole minutes, on each objective endpoint, as the "
            "`baseline` gate judges (customer traffic): at the plan defaults and with the "
            "latency floor off. Any verdict but a pass would have held the canary up.",
            "",
            "- **Requests a side per judged minute** (median): "
            + ", ".join(f"{e} {sorted(n)[len(n) // 2]}" for e, n in sorted(SAMPLES.items()) if n)
            + ".",
            "",
            "| judge settings | judgements | pass | marginal | fail | no data | held up |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            *bounds(totals),
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
    sys.exit(main())
