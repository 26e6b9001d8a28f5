"""A real gunicorn, serving a throwaway database over loopback, for multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class LiveServer:
    url: str
    token: str
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            health = f"{url}/v1/health"  # always a loopback http URL built above
            with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn at {url} never became healthy")


@pytest.fixture(scope="session")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp}/live.sqlite3",
        "MEDIA_ROOT": str(tmp / "media"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    manage("migrate", "--noinput")
    manage("create_tenant", "acme")
    token = manage("create_token", "--tenant", "acme", "--name", "live").splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "portal.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield LiveServer(url=url, token=token, env=env)
    finally:
        server.terminate()
        server.wait(timeout=30)
