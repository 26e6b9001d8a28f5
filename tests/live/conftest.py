"""A real gunicorn, serving a throwaway database over loopback, for multi-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.server import LiveServer, gunicorn


@pytest.fixture(scope="session")
def gunicorn_server() -> Iterator[LiveServer]:
    # The embedded defaults, as `make run` serves them: SQLite, one process with threads, an
    # in-process cache, even when CI exports REDIS_URL.
    with gunicorn(workers=1, env={"REDIS_URL": ""}) as server:
        yield server
