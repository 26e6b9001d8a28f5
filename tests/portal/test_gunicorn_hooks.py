"""gunicorn.conf.py's worker hook, run the way gunicorn runs it: in a fresh process, once the
app is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, json, runpy
from portal.config.wsgi import application  # what gunicorn's worker loads before the hook
config = runpy.run_path("gunicorn.conf.py")
before = gc.get_freeze_count()
config["post_worker_init"](None)
frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
print(json.dumps({"before": before, "frozen": frozen, "tracked": tracked}))
"""


def test_a_worker_freezes_what_it_loaded_so_collections_skip_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["before"] == 0
    # The loaded app is frozen, and what the collector still tracks is a small remainder.
    assert counts["frozen"] > 50_000
    assert counts["tracked"] < counts["frozen"] / 10
