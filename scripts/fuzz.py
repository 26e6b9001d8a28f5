"""Runs schemathesis against a live gunicorn serving a throwaway database with demo data.

Every operation is exercised with a real bearer token; the run fails on any 5xx and on any
response that does not match the published OpenAPI schema.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become healthy")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="portal-fuzz-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": os.environ.get("FUZZ_DATABASE_URL", f"sqlite:///{tmp}/fuzz.sqlite3"),
            "MEDIA_ROOT": f"{tmp}/media",
            "LOG_LEVEL": "WARNING",
        }
        # Rate limits would turn most of the run into 429s; the fuzzer checks shapes, not quotas.
        env.setdefault("RATE_LIMIT_DEFAULT", "100000/m")
        env.setdefault("RATE_LIMIT_FILES", "100000/m")

        def manage(*args: str) -> str:
            return subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout

        manage("migrate", "--noinput")
        manage("seed_demo")
        token = manage("create_token", "--tenant", "acme", "--name", "fuzz").splitlines()[-1]
        port = free_port()
        server = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "portal.wsgi",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/v1/health")
            command = [
                str(BIN / "schemathesis"),
                "run",
                f"{base}/v1/schema",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,status_code_conformance,"
                "content_type_conformance,response_schema_conformance,"
                "response_headers_conformance,negative_data_rejection",
                "--max-examples",
                os.environ.get("FUZZ_MAX_EXAMPLES", "60"),
                "--phases",
                "examples,coverage,fuzzing",
                "--request-timeout",
                "10",
                "--seed",
                os.environ.get("FUZZ_SEED", "1"),
                "--no-color",
            ]
            return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
