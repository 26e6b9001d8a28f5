"""Runs the Postman collection with newman against a live gunicorn serving the demo data, at
the production rate limits, for a bounded number of iterations. Fails on any failed request or
assertion. The JSON report lands in artifacts/newman.json."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live.server import gunicorn  # noqa: E402 - needs the path above

POSTMAN = ROOT / "postman"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"
# Each iteration sends ~15 requests on the default 60/min budget: 3 stay under it.
ITERATIONS = os.environ.get("NEWMAN_ITERATIONS", "3")


def main() -> int:
    if not NEWMAN.exists():
        npm = shutil.which("npm")
        if npm is None:
            print("newman needs Node.js and npm (apt-get install nodejs npm)", file=sys.stderr)
            return 1
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=POSTMAN, check=True)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    workers = 2 if os.environ.get("REDIS_URL") else 1
    with gunicorn(
        workers=workers, seed_demo=True, database_url=os.environ.get("NEWMAN_DATABASE_URL")
    ) as server:
        command = [
            str(NEWMAN),
            "run",
            str(POSTMAN / "Portal_API_Collection.json"),
            "--environment",
            str(POSTMAN / "Local_Environment.json"),
            "--env-var",
            f"baseUrl={server.url}",
            "--env-var",
            f"token={server.token}",
            "--iteration-count",
            ITERATIONS,
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(ROOT / "artifacts" / "newman.json"),
            "--color",
            "off",
        ]
        return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
