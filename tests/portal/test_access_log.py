"""One log line per request: gunicorn's access line only for what never reached the app."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from portal.observability.access_log import JsonAccessLogger


@pytest.fixture
def logger() -> tuple[JsonAccessLogger, list[str]]:
    config = Config()
    config.set("accesslog", "-")
    access = JsonAccessLogger(config)
    lines: list[str] = []
    access.access_log.info = lines.append
    return access, lines


def respond(access: JsonAccessLogger, headers: list[tuple[str, str]], status: str) -> None:
    resp: Any = SimpleNamespace(status=status, headers=headers, sent=10)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/contacts", "REMOTE_ADDR": "127.0.0.1"}
    access.access(resp, None, environ, timedelta(milliseconds=3))


def test_a_response_the_app_produced_is_not_logged_twice(
    logger: tuple[JsonAccessLogger, list[str]],
) -> None:
    access, lines = logger
    respond(access, [("X-Trace-Id", "abc"), ("Content-Type", "application/json")], "200 OK")
    assert lines == []


def test_what_gunicorn_answers_itself_gets_one_json_line(
    logger: tuple[JsonAccessLogger, list[str]],
) -> None:
    access, lines = logger
    respond(access, [("Content-Type", "text/html")], "431 Request Header Fields Too Large")
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (record["status"], record["path"]) == (431, "/v1/contacts")
