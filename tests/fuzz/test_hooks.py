"""The fuzzer's hooks change only what they say they change (tests/fuzz/hooks.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from schemathesis.generation.meta import TestPhase

from tests.fuzz import hooks


def case(method: str, phase: TestPhase, mode: Any, body: Any, query: Any = None) -> Any:
    meta = SimpleNamespace(phase=SimpleNamespace(name=phase), generation=SimpleNamespace(mode=mode))
    return SimpleNamespace(method=method, meta=meta, body=body, query=query)


POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE
BODY = {"title": "t", "contact_id": "38676d1d-6fee-55b7-a45f-4d8225861373"}


@pytest.mark.parametrize("method", ["PATCH", "PUT", "patch"])
def test_a_valid_stateful_update_names_no_other_object(method: str) -> None:
    updated = case(method, TestPhase.STATEFUL, POSITIVE, dict(BODY))
    hooks.before_call(None, updated, {})
    assert updated.body == {"title": "t"}


@pytest.mark.parametrize(
    ("method", "phase", "mode"),
    [
        ("POST", TestPhase.STATEFUL, POSITIVE),  # a create needs its references
        ("PATCH", TestPhase.STATEFUL, NEGATIVE),  # an invalid request stays as generated
        ("PATCH", TestPhase.FUZZING, POSITIVE),  # unknown references are still sent
        ("PATCH", TestPhase.EXAMPLES, POSITIVE),
        ("PATCH", TestPhase.COVERAGE, POSITIVE),
    ],
)
def test_every_other_request_keeps_its_references(method: str, phase: TestPhase, mode: Any) -> None:
    kept = case(method, phase, mode, dict(BODY))
    hooks.before_call(None, kept, {})
    assert kept.body == BODY


def test_a_body_that_is_not_an_object_is_left_alone() -> None:
    bodies: list[Any] = [None, [], "text", b"bytes"]
    for body in bodies:
        kept = case("PATCH", TestPhase.STATEFUL, POSITIVE, body)
        hooks.before_call(None, kept, {})
        assert kept.body == body


def test_a_valid_request_never_carries_a_cursor_and_an_invalid_one_keeps_it() -> None:
    valid = case("GET", TestPhase.FUZZING, POSITIVE, None, {"cursor": "x", "limit": "5"})
    hooks.before_call(None, valid, {})
    assert valid.query == {"limit": "5"}
    invalid = case("GET", TestPhase.FUZZING, NEGATIVE, None, {"cursor": "x"})
    hooks.before_call(None, invalid, {})
    assert invalid.query == {"cursor": "x"}
