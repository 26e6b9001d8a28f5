from __future__ import annotations

import re
import uuid

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
UUID = re.compile(r"^[0-9a-f-]{36}$")


def test_every_response_gets_request_and_trace_ids(anon: APIClient) -> None:
    for path in ("/v1/health", "/v1/contacts", "/nope"):
        response = anon.get(path)
        assert uuid.UUID(response["X-Request-Id"])
        assert response["X-Trace-Id"]


def test_a_sane_request_id_is_echoed(anon: APIClient) -> None:
    response = anon.get("/v1/health", HTTP_X_REQUEST_ID="f47ac10b-58cc-4372-a567-0e02b2c3d479")
    assert response["X-Request-Id"] == "f47ac10b-58cc-4372-a567-0e02b2c3d479"


@pytest.mark.parametrize("bad", ["a b", "x" * 129, "<script>", "ä"])
def test_an_unsafe_request_id_is_replaced(anon: APIClient, bad: str) -> None:
    response = anon.get("/v1/health", HTTP_X_REQUEST_ID=bad)
    assert UUID.match(response["X-Request-Id"])


def test_the_callers_trace_id_is_used_in_headers_and_bodies(anon: APIClient) -> None:
    response = anon.get("/v1/health", HTTP_X_TRACE_ID="abc123-def456-ghi789")
    assert response["X-Trace-Id"] == "abc123-def456-ghi789"
    assert response.json()["traceId"] == "abc123-def456-ghi789"
    problem = anon.get("/v1/contacts", HTTP_X_TRACE_ID="tenant-isolation-test")
    assert problem.json()["traceId"] == "tenant-isolation-test"


def test_a_w3c_traceparent_supplies_the_trace_id(anon: APIClient) -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = anon.get("/v1/health", HTTP_TRACEPARENT=header)
    assert response["X-Trace-Id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "header", ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"]
)
def test_an_invalid_traceparent_is_ignored(anon: APIClient, header: str) -> None:
    response = anon.get("/v1/health", HTTP_TRACEPARENT=header)
    assert re.match(r"^[0-9a-f]{32}$", response["X-Trace-Id"])
    assert response["X-Trace-Id"] != "0" * 32


def test_the_request_log_line_carries_the_ids_and_tenant(
    api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="portal.request")
    api.get("/v1/contacts", HTTP_X_TRACE_ID="trace-in-log", HTTP_X_REQUEST_ID="req-in-log")
    [record] = [r for r in caplog.records if r.name == "portal.request"]
    assert record.trace_id == "trace-in-log"  # type: ignore[attr-defined]
    assert record.request_id == "req-in-log"  # type: ignore[attr-defined]
    assert record.tenant == "acme"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.endpoint == "/v*/contacts"  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_request_fields(api: APIClient) -> None:
    import json
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from portal.observability.request_context import RequestContextLogFilter

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign,assignment]
    handler.addFilter(RequestContextLogFilter())
    logger = logging.getLogger("portal.request")
    logger.addHandler(handler)
    try:
        api.get("/v1/contacts", HTTP_X_TRACE_ID="json-trace")
    finally:
        logger.removeHandler(handler)
    line = json.loads(JsonFormatter("%(asctime)s %(levelname)s %(message)s").format(records[-1]))
    assert line["trace_id"] == "json-trace"
    assert line["tenant"] == "acme"
    assert line["token_prefix"].startswith("pt_")
    assert (line["method"], line["endpoint"], line["status"]) == ("GET", "/v*/contacts", 200)
    assert line["duration_ms"] > 0
    assert line["request_id"]


def test_generated_ids_are_version_4_uuids_and_hex_trace_ids() -> None:
    import uuid

    from portal.observability.request_context import _random_hex, new_request_id

    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in (_random_hex() for _ in range(100)))


def test_forked_workers_do_not_repeat_each_others_ids() -> None:
    # gunicorn forks its workers from one parent: each must draw its own ids.
    import os

    from portal.observability.request_context import new_request_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child != new_request_id()
