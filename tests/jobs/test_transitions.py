"""The job status table, checked exhaustively against the service."""

from __future__ import annotations

import itertools

import pytest

from jobs.models import INITIAL_STATUSES, TRANSITIONS, JobStatus
from jobs.services import job_check_transition
from portal.errors import DomainError

ALL = list(JobStatus)
# The documented table, written out here rather than read from the code it checks.
EXPECTED = {
    "pending": {"scheduled", "in_progress", "cancelled"},
    "scheduled": {"pending", "in_progress", "cancelled"},
    "in_progress": {"completed", "cancelled"},
    "completed": set(),
    "cancelled": set(),
}


def test_the_table_is_the_documented_one() -> None:
    assert {str(k): {str(v) for v in vs} for k, vs in TRANSITIONS.items()} == EXPECTED
    assert set(INITIAL_STATUSES) == {"pending", "scheduled"}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, ALL)))
def test_every_pair_follows_the_table(current: str, target: str) -> None:
    legal = target == current or target in EXPECTED[current]
    if legal:
        job_check_transition(current=current, target=target)
    else:
        with pytest.raises(DomainError) as caught:
            job_check_transition(current=current, target=target)
        assert caught.value.code == "INVALID_STATUS_TRANSITION"


def test_final_statuses_have_no_way_out() -> None:
    assert TRANSITIONS[JobStatus.COMPLETED] == frozenset()
    assert TRANSITIONS[JobStatus.CANCELLED] == frozenset()


def test_every_status_is_reachable_from_an_initial_one() -> None:
    reachable: set[str] = set(INITIAL_STATUSES)
    frontier: list[str] = list(reachable)
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(ALL)
