"""Runs schemathesis against a live gunicorn serving a throwaway database with demo data.

Every operation is exercised with a real bearer token; the run fails on any 5xx and on any
response that does not match the published OpenAPI schema.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live.server import BIN, gunicorn  # noqa: E402 - needs the path above

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance,negative_data_rejection"
)


def main() -> int:
    # Rate limits would turn most of the run into 429s; the fuzzer checks shapes, not quotas.
    env = {
        "RATE_LIMIT_DEFAULT": os.environ.get("RATE_LIMIT_DEFAULT", "100000/m"),
        "RATE_LIMIT_FILES": os.environ.get("RATE_LIMIT_FILES", "100000/m"),
    }
    # Several workers need the shared cache (gunicorn.conf.py refuses them without it).
    workers = 2 if os.environ.get("REDIS_URL") else 1
    with gunicorn(
        workers=workers, env=env, seed_demo=True, database_url=os.environ.get("FUZZ_DATABASE_URL")
    ) as server:
        command = [
            str(BIN / "schemathesis"), "run", f"{server.url}/v1/schema",
            "--header", f"Authorization: Bearer {server.token}",
            "--checks", CHECKS,
            "--max-examples", os.environ.get("FUZZ_MAX_EXAMPLES", "60"),
            "--phases", "examples,coverage,fuzzing",
            "--request-timeout", "10",
            "--seed", os.environ.get("FUZZ_SEED", "1"),
            "--no-color",
        ]  # fmt: skip
        return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
