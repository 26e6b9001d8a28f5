"""Playwright for Python driving Debian's Chromium against a real gunicorn.

The browser is the machine's own (`/usr/bin/chromium`, apt package `chromium`): Playwright's
own browser download needs the internet. Screenshots land in `artifacts/screenshots/` (or
$SCREENSHOT_DIR), which CI keeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.live.server import ROOT, LiveServer, free_port, gunicorn
from tests.live.services import require

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "artifacts" / "screenshots")
PASSWORD = "browser-test-password-1"
CANARY_VERSION, STABLE_VERSION = "2.0.0", "1.9.0"

# A plan whose phases bake for 0 s, with gates that a healthy local server passes, so the
# browser test runs the rollout flow in seconds.
SETUP = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from ops.models import Gate, RolloutPhase, RolloutPlan
User = get_user_model()
User.objects.create_superuser("operator", "operator@example.com", {PASSWORD!r})
viewer = User.objects.create_user("viewer", "viewer@example.com", {PASSWORD!r}, is_staff=True)
viewer.user_permissions.add(Permission.objects.get(codename="view_rollout"))
User.objects.create_user("customer", "customer@example.com", {PASSWORD!r})
plan = RolloutPlan.objects.create(name="browser", description="Browser test plan")
for order, weight in enumerate((5, 25, 50, 100), start=1):
    phase = RolloutPhase.objects.create(plan=plan, order=order, weight=weight, bake_seconds=0)
    Gate.objects.create(phase=phase, order=1, kind="canary_health",
                        description="Canary health 200 with the new version")
    Gate.objects.create(phase=phase, order=2, kind="breakers_closed",
                        description="All circuit breakers closed")
"""


@dataclass
class Site:
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.server.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def traffic(self, paths: list[str], times: int) -> None:
        for _ in range(times):
            for path in paths:
                request = urllib.request.Request(  # noqa: S310 - loopback URL of the test server
                    f"{self.url}{path}", headers={"Authorization": f"Bearer {self.server.token}"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    assert response.status == 200


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    port = free_port()
    env = {
        "REDIS_URL": "",
        "APP_VERSION": CANARY_VERSION,
        "CANARY_URL": f"http://127.0.0.1:{port}",
        "METRICS_FLUSH_SECONDS": "1",
        "RATE_LIMIT_DEFAULT": "1000/m",  # the dashboard test makes its own traffic
        "ROLLOUT_NOTIFIERS": "log,status",
    }
    with gunicorn(workers=1, env=env, seed_demo=True, port=port) as server:
        live = Site(server)
        live.manage("shell", "-c", SETUP)
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = require("chromium", "chromium")
    for stale in SCREENSHOTS.glob("failed-*.png"):
        stale.unlink()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            # As root in a sandbox with no internet: no setuid sandbox, no background calls home.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@dataclass
class Tab:
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def expect_error_status(self, status: int, path: str) -> None:
        """Chromium logs every 4xx page load as a console error; a load of a URL containing
        `path` with this status is the point of the test, not an error."""
        self.expected.append(f"status of {status} (")
        self.expected.append(path)

    @property
    def unexpected_errors(self) -> list[str]:
        pairs = list(zip(self.expected[::2], self.expected[1::2], strict=True))
        return [e for e in self.errors if not any(a in e and b in e for a, b in pairs)]

    def go(self, path: str) -> None:
        response = self.page.goto(f"{self.base}{path}")
        assert response is not None

    def login(self, username: str) -> None:
        self.go("/admin/login/?next=/ops/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()

    def screenshot(self, name: str, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def _collect(errors: list[str]) -> Callable[[ConsoleMessage], None]:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} at {message.location}")

    return on_console


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def tab(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    opened = Tab(page, site.url)
    page.on("console", _collect(opened.errors))
    page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    yield opened
    if request.node.stash.get(FAILED, False):
        opened.screenshot(f"failed-{request.node.name}")  # what the browser showed
    context.close()
    # Every page a test opened loaded without a script error or a CSP violation.
    assert opened.unexpected_errors == []
