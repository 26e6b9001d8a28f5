"""What one request can make the logs say is bounded: a disallowed Host is one warning line
without a traceback (Django logs it at ERROR with one, 1.3 KB an anonymous request), and no
message runs longer than LOG_MESSAGE_MAX."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from logging.config import dictConfig

import pytest
from django.conf import settings
from django.test import Client

from portal.observability.request_context import LOG_MESSAGE_MAX


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The console handler as configured in settings, writing to a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    dictConfig(settings.LOGGING)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers  # pytest's own capture handlers, as they were
        root.setLevel(level)


@pytest.mark.parametrize("host", ["evil.example", "a" * 5000 + ".example", "127.0.0.1:1\u00e9"])
def test_a_disallowed_host_is_one_short_warning(log: io.StringIO, host: str) -> None:
    response = Client().get("/v1/health", HTTP_HOST=host)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    security = [line for line in log.getvalue().splitlines() if "django.security" in line]
    assert len(security) == 1, log.getvalue()[:2000]
    assert "WARNING" in security[0]
    assert "Traceback" not in log.getvalue()
    assert len(log.getvalue()) < 2 * LOG_MESSAGE_MAX + 600


def test_a_long_message_is_cut(log: io.StringIO) -> None:
    logging.getLogger("portal.test").warning("x" * 10_000)
    assert len(log.getvalue()) < LOG_MESSAGE_MAX + 300
    assert "(10000 characters, cut)" in log.getvalue()
