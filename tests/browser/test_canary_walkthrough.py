"""The README's local canary walkthrough, as a newcomer runs it: `make canary` (and
`make canary BROKEN=1`) from the repository, watched in Chromium in the staff console until
the rollout ends by itself. The screenshots in docs/screenshots/ come from this test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.live.server import ROOT, free_port

pytestmark = [pytest.mark.live, pytest.mark.browser]

LOGIN = re.compile(r"Demo staff login \(/ops/\): (\S+) / (\S+)")


@dataclass
class Canary:
    url: str
    username: str
    password: str
    output: list[str]
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout


@contextmanager
def make_canary(*, broken: bool) -> Iterator[Canary]:
    """`make canary` on a fresh embedded database; what it prints is kept in `output`."""
    with tempfile.TemporaryDirectory(prefix="portal-canary-") as tmp:
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PORT"}},
            "DJANGO_SETTINGS_MODULE": "portal.config.settings",
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "MEDIA_ROOT": f"{tmp}/media",
            # The developer's own var/ (token, servers, logs) is left alone.
            "DEMO_TOKEN_FILE": f"{tmp}/demo-token",
            "LOCAL_SERVERS_FILE": f"{tmp}/servers.json",
            "CANARY_LOG_DIR": f"{tmp}/logs",
            "CANARY_PORT": str(free_port()),
        }
        args = ["make", "--no-print-directory", "canary", f"PORT={port}", "HOST=127.0.0.1"]
        process = subprocess.Popen(
            [*args, *(["BROKEN=1"] if broken else [])],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        try:
            login = None
            deadline = time.monotonic() + 180
            assert process.stdout is not None
            while login is None or not any("Watch it:" in line for line in output):
                line = process.stdout.readline()
                assert line, "make canary exited:\n" + "".join(output)
                output.append(line)
                login = login or LOGIN.search(line)
                assert time.monotonic() < deadline, "".join(output)
            canary = Canary(f"http://127.0.0.1:{port}", login[1], login[2], output, env)

            # Keep reading what it prints, so its pipe never fills.
            def drain() -> None:
                for more in process.stdout or []:
                    output.append(more)

            threading.Thread(target=drain, daemon=True).start()
            yield canary
        finally:
            # SIGTERM to make's group, as a terminal's kill would: everything it started must be
            # gone within canary_demo's stop bound (STOP_SECONDS) and a Django start-up or two.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                left = _started_by(env["CANARY_LOG_DIR"])
                for pid in [process.pid, *left]:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                raise AssertionError(
                    f"make canary still running 60 s after SIGTERM; its processes: {left}\n"
                    + _ps(left)
                    + "".join(output[-20:])
                ) from None
            deadline = time.monotonic() + 10
            while left := _started_by(env["CANARY_LOG_DIR"]):
                if time.monotonic() > deadline:
                    for pid in left:
                        with suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    raise AssertionError(f"make canary exited and left {left}:\n{_ps(left)}")
                time.sleep(0.2)


def _started_by(marker: str) -> list[int]:
    """The live processes whose environment holds `marker` (this run's log directory), as every
    process `make canary` starts inherits it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
    return found


def _ps(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        with suppress(OSError):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            lines.append(f"{pid} pgid={os.getpgid(pid)}: {args}\n")
    return "".join(lines)


def _login(page: Page, canary: Canary) -> None:
    page.goto(f"{canary.url}/admin/login/?next=/ops/")
    page.get_by_label("Username").fill(canary.username)
    page.get_by_label("Password").fill(canary.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ops/$"))


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def test_make_canary_is_promoted_phase_by_phase_in_the_console(browser: Browser) -> None:
    with make_canary(broken=False) as canary:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        _login(page, canary)
        # The console's front page lists the rollout make canary started...
        expect(page.locator("a", has_text="1.1.0").first).to_be_visible()
        # ...and the link make canary printed opens it.
        watch = next(line for line in canary.output if "Watch it:" in line)
        page.goto(re.search(r"http://\S+", watch)[0])  # type: ignore[index]
        expect(page.locator(".live-root")).to_have_attribute("data-state", "running")
        # The open page follows the controller by itself: phase 2 becomes current.
        expect(page.locator('[data-phase="2"]')).to_have_attribute(
            "data-status", "current", timeout=150_000
        )
        # Phase 1 judges the release's migrations too (migrations_safe).
        expect(page.locator('[data-phase="1"] .verdict-pass')).to_have_count(5)
        _shot(page, "canary-running")
        expect(page.locator(".live-root")).to_have_attribute(
            "data-state", "succeeded", timeout=240_000
        )
        expect(page.locator(".weight")).to_have_text("0%")
        for phase, gates in ((1, 5), (2, 4), (3, 4), (4, 4)):
            expect(page.locator(f'[data-phase="{phase}"] .verdict-pass')).to_have_count(gates)
        _shot(page, "canary-succeeded")
        # From another shell, with no PORT exported: the CLI agrees.
        status = canary.manage("rollout", "status")
        assert "1.1.0 succeeded" in status, status
        assert "by controller" in status
        context.close()
    text = "".join(canary.output)
    assert "Rollout 1 succeeded" in text, text


def test_make_canary_broken_is_rolled_back_by_the_controller(browser: Browser) -> None:
    with make_canary(broken=True) as canary:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        _login(page, canary)
        page.locator("a", has_text="1.1.0").first.click()
        expect(page.locator(".live-root")).to_have_attribute(
            "data-state", "rolled_back", timeout=240_000
        )
        expect(page.locator(".weight")).to_have_text("0%")
        expect(page.locator('[data-phase="1"] .verdict-fail').first).to_be_visible()
        expect(page.locator('tr[data-action="rollback"]')).to_contain_text("controller")
        _shot(page, "canary-rolled-back")
        status = canary.manage("rollout", "status")
        assert "rolled_back" in status, status
        context.close()
    text = "".join(canary.output)
    assert "Rollout 1 rolled_back" in text, text
