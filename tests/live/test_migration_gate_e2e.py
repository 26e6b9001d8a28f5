"""The migration gate end to end, with real processes: a stable gunicorn and a canary gunicorn
whose code carries a migration dropping a column stable reads (DEMO_MIGRATIONS=breaking, as
`make canary MIGRATION=breaking`), one database, customer traffic throughout, and the CLI.

- The breaking release is refused before anything is migrated or any traffic moves, and no
  customer request fails.
- Accepting the risk does not skip the rest: once the release's migrate Job has run, stable's
  contract smoke on the migrated database fails and the rollout stops before phase 1, with the
  migrations that stay applied in its report.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.live.server import ROOT, gunicorn

pytestmark = pytest.mark.live
DROP = "0001_drop_contact_company"


def test_a_breaking_canary_is_stopped_before_any_customer_request_reaches_it(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path}/shared.sqlite3"
    env = {"RATE_LIMIT_DEFAULT": "100000/m", "MEDIA_ROOT": str(tmp_path / "media")}
    canary_env = {**env, "DEMO_MIGRATIONS": "breaking", "APP_VERSION": "1.1.0"}
    with (
        gunicorn(workers=1, env=env, database_url=database) as stable,
        gunicorn(workers=1, env=canary_env, database_url=database, prepare=False) as canary,
    ):
        lanes = {"STABLE_URL": stable.url, "CANARY_URL": canary.url}

        def manage(
            *args: str, extra: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env={**stable.env, **lanes, **(extra or {})},
                capture_output=True,
                text=True,
                check=False,
            )

        statuses: list[int] = []
        stop = threading.Event()

        def customers() -> None:
            client = requests.Session()
            client.headers["Authorization"] = f"Bearer {stable.token}"
            while not stop.is_set():
                for path in ("/v1/contacts?limit=5", "/v1/jobs?limit=5"):
                    statuses.append(client.get(f"{stable.url}{path}", timeout=10).status_code)
                stop.wait(0.05)

        traffic = threading.Thread(target=customers, daemon=True)
        traffic.start()
        try:
            # From the release's own code, before its migrations.
            recorded = manage(
                "rollout", "record-release", "1.1.0", extra={"DEMO_MIGRATIONS": "breaking"}
            )
            assert recorded.returncode == 1, recorded
            assert "DROP_COLUMN drops contacts_contact.company" in recorded.stdout
            refused = manage("rollout", "start", "1.1.0", "--plan", "default")
            assert refused.returncode == 2, refused
            assert "Migration gate: 1 unsafe change" in refused.stderr
        finally:
            stop.set()
            traffic.join(timeout=15)
        assert len(statuses) > 20
        assert set(statuses) == {200}, statuses
        status = json.loads(manage("rollout", "status", "--json").stdout)
        assert (status["state"], status["weight"], status["phase"]) == ("aborted", 0, 0)
        applied = sqlite3.connect(f"{tmp_path}/shared.sqlite3").execute(
            "SELECT name FROM django_migrations WHERE app = 'demo'"
        )
        assert applied.fetchall() == []

        # A person accepts the risk; the release's migrate Job runs (the canary's code).
        migrated = manage("migrate", "--noinput", extra={"DEMO_MIGRATIONS": "breaking"})
        assert migrated.returncode == 0, migrated
        stopped = manage(
            "rollout", "start", "1.1.0", "--plan", "default", "--force", "again",
            "--accept-migration-risk", "live test of the smoke",
        )  # fmt: skip
        assert stopped.returncode == 2, stopped
        assert "stable version fails on the migrated schema" in stopped.stderr
        status = json.loads(manage("rollout", "status", "--json").stdout)
        assert (status["state"], status["weight"]) == ("aborted", 0)
        report = manage("rollout", "report").stdout
        assert "live test of the smoke" in report
        assert f"`demo.{DROP}`" in report
        assert "Stay applied after the rollback" in report
