"""Throwaway PostgreSQL and Redis servers for fault tests: each on a free port and a temp
directory, started and stopped by the test that owns it."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live.server import free_port


def require(binary: str, package: str) -> str:
    """The path of a server binary a live test needs. Missing: a skip with the install hint on
    a developer's machine, a failure under CI (which installs it)."""
    # PostgreSQL's server binaries are not on PATH; take the newest installed version.
    server_binaries = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), reverse=True)
    sbin = f"/usr/sbin/{binary}"  # nginx lives here, and PATH may not include it
    found = (
        shutil.which(binary)
        or (sbin if os.access(sbin, os.X_OK) else None)
        or next(iter(server_binaries), None)
    )
    if found:
        return found
    message = f"{binary} is not installed (apt-get install {package})"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message)


def _wait_port(port: int, up: bool, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'}")


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = require("redis-server", "redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        _wait_port(self.port, up=False)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    require("redis-server", "redis-server")
    with tempfile.TemporaryDirectory(prefix="portal-redis-") as tmp:
        server = RedisServer(port=free_port(), directory=Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _pg_bin(name: str) -> str:
    return require(name, "postgresql")


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresServer:
    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "start")
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        # Immediate: what a crash or a lost host looks like to the application.
        self._ctl("-m", "immediate", "-w", "stop")
        _wait_port(self.port, up=False)


@contextmanager
def _cluster(prefix: str, create: Callable[[Path], list[str]]) -> Iterator[PostgresServer]:
    """A PostgreSQL data directory made by `create(data)` (as the postgres user), served on
    a free port until the block ends, then removed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if os.geteuid() == 0:
            shutil.chown(tmp, "postgres", "postgres")
        data = tmp / "data"
        subprocess.run(
            _as_postgres(create(data)),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = PostgresServer(port=free_port(), data=data)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError, RuntimeError):
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    initdb = _pg_bin("initdb")
    with _cluster(
        "portal-pg-",
        lambda data: [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
    ) as server:
        yield server


@contextmanager
def postgres_replica(primary: PostgresServer) -> Iterator[PostgresServer]:
    """A hot standby of `primary` by streaming replication (pg_basebackup -R), as a managed
    read replica is: read-only, a little behind, its replay pausable for a test."""
    basebackup = _pg_bin("pg_basebackup")
    with _cluster(
        "portal-pg-replica-",
        lambda data: [
            basebackup,
            *("-D", str(data), "-h", "127.0.0.1", "-p", str(primary.port)),
            *("-U", "postgres", "-R", "-X", "stream", "--no-sync"),
        ],
    ) as server:
        yield server
