"""gunicorn's configuration: the embedded default must not multiply rate limits by the worker
count, and a local server records where it listens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live.server import BIN, ROOT, free_port, gunicorn

pytestmark = pytest.mark.live


def test_several_workers_without_a_shared_cache_are_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--workers",
            "3",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "portal.config.wsgi",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "3 workers need REDIS_URL" in result.stderr


def test_no_control_socket_unless_asked(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite3"
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "portal.config.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    server.terminate()
    _, stderr = server.communicate(timeout=30)
    assert "Booting worker" in stderr
    # A shared ~/.gunicorn/gunicorn.ctl would let one instance remove another's socket.
    assert "Control socket" not in stderr


def test_a_second_shell_finds_make_runs_server_without_port(tmp_path: Path) -> None:
    """`make run` starts gunicorn with LOCAL_LANE=stable; it records where it listens and
    `manage.py` in another shell (no PORT exported) resolves the lanes to it."""
    record = tmp_path / "servers.json"
    with gunicorn(
        workers=1, env={"LOCAL_LANE": "stable", "LOCAL_SERVERS_FILE": str(record)}
    ) as server:
        assert json.loads(record.read_text()) == {"stable": server.url}
        shell = {k: v for k, v in server.env.items() if k not in {"PORT", "CANARY_URL"}}
        out = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.conf import settings; print(settings.ROLLOUT_CANARY_URL)",
            ],
            cwd=ROOT,
            env=shell,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        assert out[-1] == server.url
