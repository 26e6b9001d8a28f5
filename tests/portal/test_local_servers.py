"""`rollout tick` from a second shell finds the servers `make run` / `make canary` started,
without the shell exporting PORT: they record where they listen, settings read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.config import local_servers

ROOT = Path(__file__).resolve().parents[2]


def test_stable_then_canary_are_recorded_and_a_new_stable_forgets_the_old_canary(
    tmp_path: Path,
) -> None:
    assert local_servers.recorded(tmp_path) == {}
    local_servers.record(tmp_path, "stable", "http://127.0.0.1:9001")
    local_servers.record(tmp_path, "canary", "http://127.0.0.1:9002")
    assert local_servers.recorded(tmp_path) == {
        "stable": "http://127.0.0.1:9001",
        "canary": "http://127.0.0.1:9002",
    }
    local_servers.record(tmp_path, "stable", "http://127.0.0.1:9003")
    assert local_servers.recorded(tmp_path) == {"stable": "http://127.0.0.1:9003"}
    with pytest.raises(ValueError, match="LOCAL_LANE"):
        local_servers.record(tmp_path, "blue", "http://x")


@pytest.mark.parametrize("content", ["", "not json", "[1]", '{"stable": 5}'])
def test_a_damaged_record_is_ignored(tmp_path: Path, content: str) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "servers.json").write_text(content)
    assert local_servers.recorded(tmp_path) == {}


def _lanes(base: Path, **env: str) -> tuple[str, str]:
    """The lanes the real settings resolve, in a fresh process as a second shell would."""
    clean = {k: v for k, v in os.environ.items() if k not in {"PORT", "CANARY_URL", "STABLE_URL"}}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import portal.config.settings as s; print(s.ROLLOUT_STABLE_URL, s.ROLLOUT_CANARY_URL)",
        ],
        cwd=ROOT,
        env={**clean, "LOCAL_SERVERS_FILE": str(base / "var" / "servers.json"), **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], out[1]


def test_settings_take_the_recorded_servers_unless_the_environment_says(tmp_path: Path) -> None:
    assert _lanes(tmp_path) == ("http://127.0.0.1:8000", "http://127.0.0.1:8000")
    local_servers.record(tmp_path, "stable", "http://127.0.0.1:9001")
    assert _lanes(tmp_path) == ("http://127.0.0.1:9001", "http://127.0.0.1:9001")
    local_servers.record(tmp_path, "canary", "http://127.0.0.1:9002")
    assert _lanes(tmp_path) == ("http://127.0.0.1:9001", "http://127.0.0.1:9002")
    # The environment wins: an exported PORT, or the lanes themselves.
    assert _lanes(tmp_path, PORT="7000") == ("http://127.0.0.1:7000", "http://127.0.0.1:7000")
    assert _lanes(tmp_path, CANARY_URL="http://c:1") == ("http://c:1", "http://c:1")
    assert _lanes(tmp_path, CANARY_URL="http://c:1", STABLE_URL="http://s:2") == (
        "http://s:2",
        "http://c:1",
    )
    assert json.loads((tmp_path / "var" / "servers.json").read_text())["canary"]
