"""Slow clients against a live server, and what another tenant sees meanwhile: for
tests/live/test_slow_clients.py and `make bench-slow-clients`.

Each shape keeps `count` connections slow for as long as the attack lasts, opening a new one
whenever the server closes one:

- `headers`: a request line, then a header byte a second, never the blank line;
- `upload`: a tenant's file upload whose 1 MiB body arrives a byte a second;
- `anonymous-body`: an unauthenticated JSON POST whose body arrives a byte a second;
- `slow-reader`: a tenant's download of a 4 MiB file, never read (a small receive buffer).

The victim is another tenant listing its contacts and an anonymous health check, one request
after another, each with a 5 s timeout (a timeout counts as 5 s).
"""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.live.server import ROOT, LiveServer, free_port, gunicorn
from tests.live.services import redis_server, require

KINDS = ("make-run", "entrypoint", "nginx")
SHAPES = ("headers", "upload", "anonymous-body", "slow-reader")
TIMEOUT = 5.0
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass(frozen=True)
class Target:
    url: str
    attacker_token: str  # the tenant whose clients are slow
    victim_token: str  # another tenant
    job: str = ""  # the attacker's job, for uploads
    download: str = ""  # a signed link to the attacker's 4 MiB file


def prepare(url: str, attacker_token: str, victim_token: str) -> Target:
    """The attacker's job and big file, through the API."""
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {attacker_token}"
    contact = client.post(f"{url}/v1/contacts", json={"name": "Slow"}, timeout=10).json()
    job = client.post(
        f"{url}/v1/jobs", json={"title": "slow", "contact_id": contact["id"]}, timeout=10
    ).json()["id"]
    big = PDF + b"0" * (4 * 1024 * 1024)
    stored = client.post(
        f"{url}/v1/jobs/{job}/files",
        files={"file": ("big.pdf", big, "application/pdf")},
        timeout=30,
    )
    stored.raise_for_status()
    link = stored.json()["signed_url"]
    path = urlsplit(link)
    download = f"{url}{path.path}?{path.query}"
    return Target(url, attacker_token, victim_token, str(job), download)


def _request(target: Target, shape: str) -> tuple[bytes, bytes]:
    """What a slow connection of this shape sends at once, and what it then trickles."""
    host = urlsplit(target.url).netloc
    if shape == "headers":
        return (f"GET /v1/contacts HTTP/1.1\r\nHost: {host}\r\n".encode(), b"X-Slow: 1\r\n" * 999)
    if shape == "upload":
        size = 1024 * 1024
        head = (
            f"POST /v1/jobs/{target.job}/files HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {target.attacker_token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        return head + b'--b\r\nContent-Disposition: form-data; name="file"\r\n', b"0" * size
    if shape == "anonymous-body":
        head = (
            f"POST /v1/contacts HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
        ).encode()
        return head + b'{"name": "', b"a" * 10000
    if shape == "slow-reader":
        path = urlsplit(target.download)
        return (
            f"GET {path.path}?{path.query} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
            b"",
        )
    raise ValueError(shape)


def _slow_connection(target: Target, shape: str, stop: threading.Event) -> None:
    address = urlsplit(target.url)
    first, trickle = _request(target, shape)
    while not stop.is_set():
        try:
            with socket.socket() as sock:
                if shape == "slow-reader":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(10)
                sock.connect((address.hostname or "127.0.0.1", address.port or 80))
                sock.sendall(first)
                for at in range(len(trickle)):
                    if stop.wait(1.0):
                        return
                    sock.sendall(trickle[at : at + 1])
                stop.wait(60)  # the slow reader: holds the response unread
        except OSError:
            stop.wait(0.2)  # closed by the server: come back


@contextlib.contextmanager
def attack(target: Target, shape: str, count: int) -> Iterator[None]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=_slow_connection, args=(target, shape, stop), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)  # every connection open and slow
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


@dataclass(frozen=True)
class Seen:
    p95_ms: float
    ok: int
    total: int
    health_ok: int
    health_total: int


def victim(target: Target, rounds: int = 60) -> Seen:
    """Another tenant's contact list and an anonymous health check, one after another."""
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {target.victim_token}"
    latencies: list[float] = []
    ok = health_ok = 0
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            status = client.get(f"{target.url}/v1/contacts", timeout=TIMEOUT).status_code
        except requests.RequestException:
            status = 0
        latencies.append(min(time.perf_counter() - start, TIMEOUT) * 1000)
        ok += status == 200
        try:
            health = requests.get(f"{target.url}/v1/health", timeout=TIMEOUT).status_code
        except requests.RequestException:
            health = 0
        health_ok += health == 200
    latencies.sort()
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)]
    return Seen(p95, ok, rounds, health_ok, rounds)


UNLIMITED = {"RATE_LIMIT_DEFAULT": "100000/m", "RATE_LIMIT_FILES": "100000/m"}
PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "live-" + "s" * 60,
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}


def victim_token(server: LiveServer) -> str:
    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=server.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    manage("create_tenant", "other")
    return manage("create_token", "--tenant", "other", "--name", "victim").splitlines()[-1]


@contextmanager
def nginx_in_front(upstream: str) -> Iterator[str]:
    """The shipped deploy/nginx/portal-api.conf, listening on a free loopback port."""
    binary = require("nginx", "nginx")
    shipped = (ROOT / "deploy/nginx/portal-api.conf").read_text()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="portal-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"user root;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
            f"events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {tmp}/body;\n"
            f"  proxy_temp_path {tmp}/proxy;\n"
            f"  upstream portal_api {{ server {upstream}; }}\n"
            + shipped.replace("listen 80;", f"listen 127.0.0.1:{port};")
            + "\n}\n"
        )
        base = [binary, "-c", str(conf), "-p", tmp]
        subprocess.run(base, check=True)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            subprocess.run([*base, "-s", "quit"], check=False)


@contextmanager
def served(kind: str, env: dict[str, str] | None = None) -> Iterator[Target]:
    if kind == "make-run":
        # The embedded defaults: one process with threads, no Redis.
        with gunicorn(workers=1, env={**UNLIMITED, "REDIS_URL": "", **(env or {})}) as server:
            target = server.url
            yield prepare(target, server.token, victim_token(server))
        return
    with redis_server() as redis:
        shipped = {**UNLIMITED, **PRODUCTION, "REDIS_URL": redis.url, **(env or {})}
        with gunicorn(workers=2, env=shipped, entrypoint=True) as server:
            if kind == "entrypoint":
                yield prepare(server.url, server.token, victim_token(server))
                return
            with nginx_in_front(server.url.removeprefix("http://")) as proxy:
                yield prepare(proxy, server.token, victim_token(server))
