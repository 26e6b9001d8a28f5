"""gunicorn settings, from the environment (docs/configuration.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from portal.http import server_errors
from portal.resilience import worker

# Errors gunicorn answers before Django (URI or headers too long) are problem documents too.
server_errors.install()

# On the embedded defaults (no REDIS_URL) state such as rate-limit counters lives in each
# process's memory, so one process with threads serves; with a shared cache, several workers.
_shared_cache = bool(os.environ.get("REDIS_URL"))
# A threaded worker whose event loop reads requests and sends responses, so a slow client holds
# no thread (portal/resilience/worker.py); WORKER_BUFFERING=off serves with gunicorn's
# stock gthread.
worker_class = worker.worker_class()
workers = int(os.environ.get("WEB_CONCURRENCY", "4" if _shared_cache else "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then as a safety net against a slow leak, jittered so they do not
# all restart at once. Rarely: a worker's memory is flat over 100,000 requests (BENCHMARKS.md),
# and a restart every couple of thousand requests — every second or two per worker at full
# speed — put a Django boot into the tail latency.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "10000"))
# The app writes one request line per response it produces (with request and trace ids). The
# JSON access log (portal/observability/access_log.py), on by default in production, adds a
# line only for what never reached the app (gunicorn's own 400/414/431), so every request
# has exactly one line. GUNICORN_ACCESS_LOG: "-" (stdout), a path, or "off".
_production = os.environ.get("PORTAL_ENV") == "production"
_access = os.environ.get("GUNICORN_ACCESS_LOG", "-" if _production else "off")
accesslog = None if _access == "off" else _access
logger_class = "portal.observability.access_log.JsonAccessLogger"
errorlog = "-"
# gunicorn's control socket (gunicornc) is off unless a path is given: its default path,
# ~/.gunicorn/gunicorn.ctl, is shared by every gunicorn of the user (and read-only in the image).
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not _control
if _control:
    control_socket = _control
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# prometheus-client multiprocess mode: every worker writes its metrics to files here and
# /metrics merges them. Set before workers import the app; wiped when the server starts.
_metrics_dir = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="portal-prometheus-")
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server: object) -> None:
    """Refuses several workers without a shared cache: each would count rate limits (and keep
    breaker state) on its own, silently multiplying every limit by the worker count."""
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()
    count = getattr(getattr(server, "cfg", None), "workers", 1)
    if count > 1 and not _shared_cache:
        raise SystemExit(
            f"gunicorn: {count} workers need REDIS_URL (a shared cache for rate limits and "
            "breakers); run 1 worker with threads, or set REDIS_URL."
        )


def post_worker_init(worker: object) -> None:
    """The worker has loaded the app: what is alive now (modules, settings, the URLconf, the
    DRF views) lives as long as the worker, so the garbage collector stops scanning it
    (`gc.freeze`). A full collection then walks a few thousand objects instead of about
    120,000: measured in-process on the contacts list, the longest collection went from 57 ms
    (a request caught behind it waits that long: a p99 outlier) to 3 ms."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - loaded now, so frozen with the rest
    gc.collect()
    gc.freeze()


def child_exit(server: object, worker: object) -> None:
    """A dead worker's live gauges must not be reported any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(getattr(worker, "pid", 0))  # type: ignore[no-untyped-call]


def when_ready(server: object) -> None:
    """`make run` and `make canary` record where they listen (LOCAL_LANE), so a command from
    another shell finds them: portal/config/local_servers.py."""
    lane = os.environ.get("LOCAL_LANE")
    listeners = getattr(server, "LISTENERS", [])
    if lane and listeners and not _production:
        from portal.config import local_servers

        local_servers.record(Path(__file__).resolve().parent, lane, str(listeners[0]))
