"""A real gunicorn, serving a throwaway database over loopback, for multi-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.server import LiveServer, gunicorn


@pytest.fixture(scope="session")
def gunicorn_server() -> Iterator[LiveServer]:
    # The embedded defaults: SQLite and a per-process cache, even when CI exports REDIS_URL.
    with gunicorn(workers=2, env={"REDIS_URL": ""}) as server:
        yield server
