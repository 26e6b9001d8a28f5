"""`make canary` stops within a bounded time whatever its children do: a CI run once waited more
than 60 s for `make canary BROKEN=1` to exit after SIGTERM. The walkthrough's servers and
controller run in process groups of their own, and `Children.stop` ends every group within its
grace: SIGTERM to all at once, then SIGKILL to what is left, workers included."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from demo.management.commands.canary_demo import Children

# A "server" that ignores SIGTERM and has a "worker" in its group that ignores it too: the
# worst a gunicorn stuck in its graceful shutdown can do.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(worker.pid))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its dead parent's reaper) is not running.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the stubborn child never started its worker"
        time.sleep(0.05)
    return int(path.read_text())


def test_a_child_that_ignores_sigterm_is_killed_with_its_whole_group(tmp_path: Path) -> None:
    children = Children()
    polite = children.start([sys.executable, "-c", "import time; time.sleep(600)"])
    stubborn = children.start([sys.executable, "-c", STUBBORN, str(tmp_path / "worker.pid")])
    assert polite is not None
    assert stubborn is not None
    worker = _wait_for(tmp_path / "worker.pid")
    assert os.getpgid(stubborn.pid) == stubborn.pid == os.getpgid(worker)
    assert os.getpgid(stubborn.pid) != os.getpgid(
        0
    )  # a signal to the command's own group misses it

    started = time.monotonic()
    killed = children.stop(grace=1.0)
    took = time.monotonic() - started

    assert killed == [stubborn.pid]  # the polite one ended on SIGTERM
    assert polite.returncode is not None
    assert stubborn.returncode is not None
    deadline = time.monotonic() + 10
    while _alive(worker):  # SIGKILL is delivered at once; the reaper may lag a moment
        assert time.monotonic() < deadline, "the stubborn child's worker outlived the stop"
        time.sleep(0.05)
    assert took < 1.0 + 5  # the grace, and the kill: never the children's own timeouts


def test_nothing_starts_once_stopping_has_begun() -> None:
    children = Children()
    assert children.stop() == []
    assert children.stopping.is_set()
    assert children.start([sys.executable, "-c", "pass"]) is None


def test_a_child_that_ended_by_itself_is_forgotten() -> None:
    children = Children()
    process = children.start([sys.executable, "-c", "pass"])
    assert process is not None
    process.wait(timeout=30)
    children.forget(process)
    assert children.stop(grace=0.1) == []
