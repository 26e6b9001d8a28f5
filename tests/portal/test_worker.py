"""The buffering worker's framing (portal/resilience/worker.py), without a server: a request
is handed to a thread exactly when its last byte has arrived, however the bytes are split. The
worker on the wire is tests/live/test_slow_clients.py."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.resilience import worker
from tests.live.server import ROOT

REQUESTS = [
    b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b'POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 13\r\n\r\n{"name": "a"}',
    b"POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"nam\r\n8\r\ne": "a"}\r\n0\r\n\r\n',
    b"GET /v1/health HTTP/1.0\r\n\r\n",
]


@settings(max_examples=200)
@given(st.sampled_from(REQUESTS), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_a_request_is_ready_exactly_when_its_last_byte_arrives(raw: bytes, cuts: list[int]) -> None:
    request = worker._Request()
    at = 0
    for size in [*cuts, len(raw)]:
        piece = raw[at : at + size]
        if not piece:
            break
        at += len(piece)
        ready = request.feed(piece)
        assert ready == (at == len(raw)), (raw, at)
        if ready:
            break
    assert request.size == len(raw)


def test_a_pipelined_request_behind_a_whole_one_does_not_delay_it() -> None:
    request = worker._Request()
    assert request.feed(REQUESTS[0] + REQUESTS[1][:20])


def test_what_h11_cannot_frame_is_handed_to_gunicorns_parser() -> None:
    assert worker._Request().feed(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")


def test_a_client_gone_mid_request_is_handed_over_to_be_answered() -> None:
    request = worker._Request()
    assert not request.feed(REQUESTS[1][:30])
    assert request.feed(b"")


def test_expect_continue_is_noticed_with_the_headers() -> None:
    request = worker._Request()
    head = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"
    assert not request.feed(head)
    assert request.expects_continue
    assert request.headers_read


@pytest.mark.parametrize(
    ("setting", "worker_class"),
    [
        ("", "portal.resilience.worker.BufferingWorker"),
        ("on", "portal.resilience.worker.BufferingWorker"),
    ]
    + [(off, "gthread") for off in ("off", "0", "false", "no", "OFF")],
)
def test_worker_buffering_switches_to_the_stock_worker(
    monkeypatch: pytest.MonkeyPatch, setting: str, worker_class: str
) -> None:
    monkeypatch.setenv("WORKER_BUFFERING", setting or "on")
    assert worker.worker_class() == worker_class


def test_make_bench_keeps_every_other_benchmarks_section() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import benchmark

    text = (
        "# Benchmarks\nold figures\n<!-- judge-noise:start -->\nA\n<!-- judge-noise:end -->\n"
        "between\n<!-- slow-clients:start -->\nB\n<!-- slow-clients:end -->\n"
        "<!-- odd:start -->\nC\n<!-- other:end -->\n"
    )
    assert benchmark.kept_sections(text) == [
        "<!-- judge-noise:start -->\nA\n<!-- judge-noise:end -->",
        "<!-- slow-clients:start -->\nB\n<!-- slow-clients:end -->",
    ]
