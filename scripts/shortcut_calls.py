"""What each shortcut of portal/fastpaths saves, in Python function calls per request.

wrk on a shared 2-core machine cannot resolve differences under about 40 % (two identical
servers differ that much within one run), so this counts instead: Python function calls per
request, in-process, through the whole middleware stack and view, on PostgreSQL + Redis with
the `make bench` data. Calls are a deterministic proxy for the Python work a request does
(not for time spent waiting on the database or Redis). For each case: every shortcut on, all
off (FAST_PATHS=off), and each one off alone (FAST_PATHS_EXCEPT).

    BENCH_DATABASE_URL=… BENCH_REDIS_URL=… python scripts/shortcut_calls.py
"""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "DATABASE_URL",
    os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"),
)
os.environ.setdefault("REDIS_URL", os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from contacts.models import Contact  # noqa: E402
from portal.models import Tenant  # noqa: E402
from portal.tenancy.services import token_create  # noqa: E402

REQUESTS = 50
GC_REQUESTS = 1000
GC_COLUMN = f"cyclic GC ms per {GC_REQUESTS:,} `limit=100` requests"


def gc_pauses(client: Client, path: str, token: str) -> float:
    """Milliseconds the cyclic garbage collector ran during GC_REQUESTS requests (no profiler)."""
    headers = {"Authorization": f"Bearer {token}", "Host": "localhost"}
    spent = [0.0]
    began = [0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]

    gc.collect()
    gc.callbacks.append(timing)
    try:
        for _ in range(GC_REQUESTS):
            client.get(path, headers=headers)
    finally:
        gc.callbacks.remove(timing)
    return spent[0] * 1000


def calls_per_request(client: Client, path: str, token: str) -> float:
    headers = {"Authorization": f"Bearer {token}", "Host": "localhost"}
    for _ in range(20):  # warm: token cached, totals kept, plans and shapes compiled
        status = client.get(path, headers=headers).status_code
        if status != 200:
            raise SystemExit(f"{path}: {status}")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(REQUESTS):
        client.get(path, headers=headers)
    profile.disable()
    return pstats.Stats(profile).total_calls / REQUESTS  # type: ignore[attr-defined,no-any-return]


def main() -> int:
    tenant = Tenant.objects.get(slug="acme")
    _, token = token_create(tenant=tenant, name="shortcut-calls")
    contact = Contact.objects.filter(tenant=tenant).first()
    if contact is None:
        raise SystemExit("No contacts: run make bench (or scripts/bench_compare.py) first")
    cases = {
        "contacts `limit=20`": "/v1/contacts?limit=20",
        "contacts `limit=100`": "/v1/contacts?limit=100",
        "contact detail": f"/v1/contacts/{contact.pk}",
        "jobs `limit=20`": "/v1/jobs?limit=20",
    }
    configs: dict[str, tuple[bool, frozenset[str]]] = {
        "all on": (True, frozenset()),
        "all off": (False, frozenset()),
    }
    configs |= {f"{n} off": (True, frozenset({n})) for n in settings.FAST_PATH_NAMES}
    table: dict[str, dict[str, float]] = {}
    for label, (on, kept_off) in configs.items():
        with override_settings(FAST_PATHS=on, FAST_PATHS_EXCEPT=kept_off):
            connections.close_all()  # the backends' shortcut applies as a connection opens
            client = Client()
            table[label] = {
                case: calls_per_request(client, path, token) for case, path in cases.items()
            }
            table[label]["gc"] = gc_pauses(client, cases["contacts `limit=100`"], token)
    print("| Python calls per request | " + " | ".join(cases) + " | " + GC_COLUMN + " |")
    print("| --- |" + " ---: |" * (len(cases) + 1))
    base = table["all on"]
    for label, row in table.items():
        cells = []
        for case in cases:
            extra = row[case] / base[case] - 1
            cells.append(f"{row[case]:,.0f}" + ("" if label == "all on" else f" ({extra:+.0%})"))
        cells.append(f"{row['gc']:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
