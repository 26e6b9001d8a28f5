"""The embedded default must not multiply rate limits by the worker count."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest

from tests.live.server import BIN, ROOT, free_port

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
            "portal.wsgi",
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
            "portal.wsgi",
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
