"""Every error gunicorn answers itself, as a problem document: the title is its status's own
phrase, and nothing a client sends gets a 5xx (the one such case, an unknown transfer coding,
is a 400). The statuses are those gunicorn's `handle_error` writes."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest

from portal.http.server_errors import problem_bytes

# (status gunicorn writes, the reason it passes, whether the client caused it)
GUNICORN = [
    (400, "Bad Request", True),
    (403, "Forbidden", True),
    (414, "URI Too Long", True),
    (417, "Expectation Failed", True),
    (431, "Request Header Fields Too Large", True),
    (501, "Bad Request", True),  # UnsupportedTransferCoding: status 501, reason "Bad Request"
    (500, "Internal Server Error", False),
]


def parse(raw: bytes) -> tuple[int, str, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n")[0].decode()
    _, status, phrase = status_line.split(" ", 2)
    return int(status), phrase, json.loads(body)


@pytest.mark.parametrize(("status", "reason", "client"), GUNICORN)
def test_the_title_is_the_status_phrase_and_client_errors_are_4xx(
    status: int, reason: str, client: bool
) -> None:
    answered, phrase, problem = parse(problem_bytes(status, reason))
    assert problem["status"] == answered
    assert problem["title"] == phrase == HTTPStatus(answered).phrase
    assert (400 <= answered < 500) is client


def test_an_unknown_transfer_coding_is_a_malformed_request() -> None:
    answered, _, problem = parse(problem_bytes(501, "Bad Request"))
    assert (answered, problem["code"]) == (400, "MALFORMED_REQUEST")
