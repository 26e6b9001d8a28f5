"""Problem documents for the errors gunicorn answers itself (request line or headers too
long, unparseable requests), which never reach Django.

gunicorn writes those as HTML through `gunicorn.util.write_error`; `install()` replaces that
one function so API clients get the same problem shape as from the application.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from http import HTTPStatus

_CODES = {
    400: ("MALFORMED_REQUEST", "malformed-request"),
    403: ("PERMISSION_DENIED", "permission-denied"),
    408: ("REQUEST_TIMEOUT", "request-timeout"),
    414: ("URI_TOO_LONG", "uri-too-long"),
    417: ("MALFORMED_REQUEST", "malformed-request"),
    431: ("HEADERS_TOO_LARGE", "headers-too-large"),
}
# gunicorn answers a transfer coding it does not know (`Transfer-Encoding: xchunked`) with 501,
# as RFC 9112 suggests; it is the client's request that is wrong, and a 5xx here would be one
# a client can provoke at will, so it is a 400 like every other malformed request.
_CLIENT_STATUS = {501: 400}


def problem_bytes(status: int, reason: str) -> bytes:
    status = _CLIENT_STATUS.get(status, status)
    # The status line and the title always agree: gunicorn's own reason can name another
    # status's phrase (its 501 said "Bad Request").
    with contextlib.suppress(ValueError):
        reason = HTTPStatus(status).phrase
    code, slug = _CODES.get(status, ("INTERNAL_ERROR", "internal"))
    base = (os.environ.get("PROBLEM_BASE_URL") or "https://portal.example.com").rstrip("/")
    trace = uuid.uuid4().hex
    # The parser's own message can echo attacker-controlled bytes, so only the reason is sent.
    body = json.dumps(
        {
            "type": f"{base}/errors/{slug}",
            "title": reason,
            "status": status,
            "code": code,
            "detail": f"The server could not accept this request: {reason.lower()}",
            "traceId": trace,
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        "Cache-Control: no-store\r\n"
        f"X-Request-Id: {uuid.uuid4()}\r\n"
        f"X-Trace-Id: {trace}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    from gunicorn import util

    util.write_nonblock(sock, problem_bytes(status_int, reason))


def install() -> None:
    from gunicorn import util

    util.write_error = write_problem
