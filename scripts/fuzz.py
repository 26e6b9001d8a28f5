"""Runs schemathesis against a live gunicorn serving a throwaway database with demo data.

Every operation is exercised with a real bearer token, with every check schemathesis has
(its default: no 5xx, responses that match the schema, invalid requests refused and valid
ones accepted; not `--checks all`, which would override the one check schemathesis.toml
turns off for one operation) and with its stateful phase, which chains operations through
the schema's links (create a contact, then read, patch and delete it). Uploads in positive
cases carry bytes of the declared type (tests/fuzz/hooks.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live.server import BIN, gunicorn  # noqa: E402 - needs the path above


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
            str(BIN / "schemathesis"),
            "run",
            f"{server.url}/v1/schema",
            "--header",
            f"Authorization: Bearer {server.token}",
            "--max-examples",
            os.environ.get("FUZZ_MAX_EXAMPLES", "60"),
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--request-timeout",
            "10",
            "--seed",
            os.environ.get("FUZZ_SEED", "1"),
            "--no-color",
        ]
        hooks_env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
            "PYTHONPATH": str(ROOT),
        }
        return subprocess.run(command, cwd=ROOT, check=False, env=hooks_env).returncode


if __name__ == "__main__":
    sys.exit(main())
