"""The operator guide's state diagram is the code's: drawn by `diagram()` from the tables the
transitions check."""

from __future__ import annotations

from pathlib import Path

from ops.rollouts.services import TARGETS, TRANSITIONS, diagram

DOC = Path(__file__).resolve().parents[2] / "docs" / "operator" / "state-machine.md"


def test_the_guides_diagram_is_drawn_from_the_code() -> None:
    assert f"```mermaid\n{diagram()}\n```" in DOC.read_text()


def test_every_action_has_its_targets_and_every_state_is_drawn() -> None:
    from ops.models import Rollout

    assert set(TARGETS) == set(TRANSITIONS)
    drawn = diagram()
    for state in Rollout.State.values:
        assert f" {state} " in drawn or f" {state}:" in drawn or drawn.endswith(state)
