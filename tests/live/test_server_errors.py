"""Errors gunicorn answers before Django are problem documents too."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.live.server import LiveServer

pytestmark = pytest.mark.live


def raw_request(server: LiveServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(server.url)
    assert url.hostname
    assert url.port
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_a_too_long_uri_is_a_problem(gunicorn_server: LiveServer) -> None:
    path = "/v1/contacts?q=" + "a" * 9000
    status, headers, body = raw_request(
        gunicorn_server, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    )
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (414, "URI_TOO_LONG")
    assert problem["traceId"] == headers["x-trace-id"]


def test_a_garbage_request_line_is_a_problem(gunicorn_server: LiveServer) -> None:
    status, _, body = raw_request(gunicorn_server, b"\x00\x01 nonsense\r\n\r\n")
    assert status == 400
    assert json.loads(body)["code"] == "MALFORMED_REQUEST"
    assert "nonsense" not in body.decode()


def test_the_api_answers_through_gunicorn(gunicorn_server: LiveServer) -> None:
    response = requests.get(
        f"{gunicorn_server.url}/v1/contacts",
        headers={"Authorization": f"Bearer {gunicorn_server.token}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert set(response.json()) == {"data", "total", "limit", "offset", "has_more", "next_cursor"}


@pytest.mark.parametrize("coding", ["xchunked", "gzip, chunked, identity", "chunked, xchunked"])
def test_an_unknown_transfer_coding_is_a_4xx_problem(
    gunicorn_server: LiveServer, coding: str
) -> None:
    status, headers, body = raw_request(
        gunicorn_server,
        f"POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: {coding}\r\n"
        "Content-Type: application/json\r\n\r\n".encode(),
    )
    assert status == 400, body
    problem = json.loads(body)
    assert (problem["status"], problem["title"]) == (400, "Bad Request")
    assert headers["content-type"] == "application/problem+json"
