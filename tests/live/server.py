"""Starts a real gunicorn on a throwaway database, for live tests and `make fuzz`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class LiveServer:
    url: str
    token: str
    env: dict[str, str]
    pid: int = 0  # gunicorn's master process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    health = f"{url}/v1/health"  # always a loopback http URL built by this module
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn at {url} never became healthy")


@contextmanager
def gunicorn(
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    seed_demo: bool = False,
    database_url: str | None = None,
    prepare: bool = True,
    wait: bool = True,
    port: int | None = None,
    app: str = "portal.config.wsgi",
    log_path: Path | None = None,
    entrypoint: bool = False,
) -> Iterator[LiveServer]:
    """Migrates a fresh database, creates an `acme` token, serves, and stops on exit.
    `prepare=False` serves as it is (e.g. a deliberately broken instance); `wait=False` does
    not wait for it to be healthy; `entrypoint=True` starts it as the image does
    (`docker/entrypoint.sh serve`)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="portal-live-") as tmp:
        full_env = {
            **os.environ,
            # Where this server listens (and so, unless the test says otherwise, the lanes):
            # never what a developer's `make run` recorded in var/servers.json.
            "PORT": str(port),
            "DATABASE_URL": database_url or f"sqlite:///{tmp}/live.sqlite3",
            "MEDIA_ROOT": f"{tmp}/media",
            "LOG_LEVEL": "WARNING",
            # The real settings, as users run them (pytest exports its test settings).
            "DJANGO_SETTINGS_MODULE": "portal.config.settings",
            **(env or {}),
        }

        def manage(*args: str) -> str:
            return subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=full_env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout

        token = ""
        if prepare:
            manage("migrate", "--noinput")
            manage("seed_demo") if seed_demo else manage("create_tenant", "acme")
            token = manage("create_token", "--tenant", "acme", "--name", "live").splitlines()[-1]
        options = ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command = (
            ["sh", "docker/entrypoint.sh", "serve", *options]
            if entrypoint
            else [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", *options, app]
        )
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**full_env, "PATH": f"{BIN}:{full_env.get('PATH', '')}"},
            # Where the logs go (a file, as a log collector would take them), else inherited.
            stdout=log_path.open("ab") if log_path else None,
            stderr=subprocess.STDOUT if log_path else None,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            if wait:
                wait_healthy(url)
            else:
                time.sleep(2)
            yield LiveServer(url=url, token=token, env=full_env, pid=server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
