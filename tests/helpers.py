"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Asserts an RFC 9457 problem response and returns its body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].startswith("https://portal.example.com/errors/")
    assert body["title"]
    assert body["detail"]
    assert body["traceId"] == response["X-Trace-Id"]
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}
