"""The commit-msg hook, run as pre-commit runs it: on a file holding the message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, message: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_commit_msg.py"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "message",
    [
        "Make promotion atomic\n\nThe why, and the figures.\n",
        "x" * 72 + "\n",
        "Fix it\n# Please enter the commit message; lines starting with '#' are ignored.\n",
    ],
)
def test_a_good_message_passes(tmp_path: Path, message: str) -> None:
    assert check(tmp_path, message).returncode == 0


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("x" * 73 + "\n", "73 characters"),
        ("Make it so.\n", "ends with a period"),
        ("Subject\nbody right below\n", "blank line"),
        ("\n\nbody only\n", "subject (first line) is empty"),
    ],
)
def test_a_bad_message_is_refused_with_the_reason(tmp_path: Path, message: str, says: str) -> None:
    result = check(tmp_path, message)
    assert result.returncode == 1
    assert says in result.stderr


def test_the_hook_is_installed_for_commit_messages() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "default_install_hook_types: [pre-commit, commit-msg]" in config
    assert "stages: [commit-msg]" in config
