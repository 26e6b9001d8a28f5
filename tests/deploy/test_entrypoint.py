"""The image's entrypoint and production settings, run here as the container would run them
(no Docker engine on this machine, so the image itself is not built in CI)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live.server import BIN, ROOT, free_port, wait_healthy

pytestmark = pytest.mark.live
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """The image's environment, as in the Dockerfile, with a throwaway database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    return {
        **env,
        "PATH": f"{BIN}:{env['PATH']}",
        "PORTAL_ENV": "production",
        "SECRET_KEY": "production-test-" + "k" * 48,
        "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3",
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "APP_VERSION": "9.9.9",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_passes_under_production_settings(production: dict[str, str]) -> None:
    result = run(production, "check")
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_a_secret_key(production: dict[str, str]) -> None:
    del production["SECRET_KEY"]
    result = run(production, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_manage_runs_any_command(production: dict[str, str]) -> None:
    result = run(production, "manage", "showmigrations", "ops", "--plan")
    assert result.returncode == 0, result.stderr
    assert "0001_metrics_and_slos" in result.stdout


@pytest.fixture
def serving(production: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    assert run(production, "migrate").returncode == 0
    collect = run(production, "manage", "collectstatic", "--noinput", "--verbosity", "0")
    assert collect.returncode == 0, collect.stderr
    port = free_port()
    env = {**production, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    server = subprocess.Popen(
        ["/bin/sh", str(ENTRYPOINT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_answers_health_and_static_files_and_logs_json(
    serving: tuple[str, subprocess.Popen[str]],
) -> None:
    url, server = serving
    health = requests.get(f"{url}/v1/health", timeout=5)
    assert health.json()["version"] == "9.9.9"
    # Anything else over plain HTTP goes to HTTPS; behind the proxy it is served.
    assert requests.get(f"{url}/status", timeout=5, allow_redirects=False).status_code == 301
    proxied = {"X-Forwarded-Proto": "https"}
    page = requests.get(f"{url}/status", headers=proxied, timeout=5)
    assert page.status_code == 200
    (css,) = re.findall(r'href="(/static/ops/console\.[0-9a-f]{12}\.css)"', page.text)
    style = requests.get(f"{url}{css}", headers=proxied, timeout=5)
    assert style.status_code == 200
    assert "max-age=315360000" in style.headers["Cache-Control"]  # hashed: cached for good
    server.terminate()
    out, err = server.communicate(timeout=30)
    # The app logs to stderr, gunicorn's access log to stdout: a collector takes both.
    records = [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]
    # One JSON line per request: the app's, with its trace id; gunicorn's access logger adds
    # none for what the app answered (only for what never reached it).
    app = [r for r in records if r.get("logger") == "portal.request" and "/v1/health" in str(r)]
    assert app, err[-2000:]
    assert all(r["trace_id"] and r["status"] == 200 for r in app)
    access = [r for r in records if r.get("logger") == "gunicorn.access"]
    assert not [r for r in access if r.get("path") == "/v1/health"]


def test_the_readmes_compose_first_steps_work_through_the_entrypoint(
    serving: tuple[str, subprocess.Popen[str]], production: dict[str, str]
) -> None:
    """docs/deployment.md: a tenant, a token and a staff login created with `manage` inside
    the stack (here the entrypoint with the same production environment as the server)."""
    url, _ = serving
    tenant = run(production, "manage", "create_tenant", "acme", "--name", "Acme Corporation")
    assert tenant.returncode == 0, tenant.stderr
    token = run(production, "manage", "create_token", "--tenant", "acme", "--name", "first")
    assert token.returncode == 0, token.stderr
    raw = token.stdout.strip().splitlines()[-1]
    staff = run(
        {**production, "DJANGO_SUPERUSER_PASSWORD": "a-long-staff-password-1"},
        "manage", "createsuperuser", "--noinput", "--username", "admin",
        "--email", "admin@example.com",
    )  # fmt: skip
    assert staff.returncode == 0, staff.stderr
    proxied = {"X-Forwarded-Proto": "https"}
    contacts = requests.get(
        f"{url}/v1/contacts", headers={**proxied, "Authorization": f"Bearer {raw}"}, timeout=5
    )
    assert contacts.status_code == 200, contacts.text
    assert contacts.json()["total"] == 0
    session = requests.Session()
    login = session.get(f"{url}/admin/login/", headers=proxied, timeout=5)
    assert login.status_code == 200
    # The development-only login refuses this environment.
    refused = run(production, "manage", "demo_operator")
    assert refused.returncode != 0
    assert "createsuperuser" in refused.stderr
