"""End to end: real nginx in front of two real gunicorn instances of this project (stable
0.9.0 and canary 1.0.0 on one database), moved by the `nginx` driver with short bake times."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live.server import ROOT, LiveServer, free_port, gunicorn
from tests.live.services import require

pytestmark = pytest.mark.live
GATES = [
    ("canary_health", {}),
    ("breakers_closed", {}),
    ("smoke", {}),
    ("tenant_isolation", {}),
    ("cors_refusal", {}),
    ("metrics_export", {}),
    ("files_contract", {}),
    ("rate_limiter", {}),
    ("error_rate", {"min_samples": 1, "window_seconds": 300}),
    ("load_test", {"iterations": 40}),
    ("instances_up", {}),
]
PLAN = f"""
from ops.models import RolloutPlan
plan, _ = RolloutPlan.objects.get_or_create(name="e2e", defaults={{"is_default": False}})
plan.phases.all().delete()
for order, weight in enumerate([5, 25, 50, 100], start=1):
    phase = plan.phases.create(order=order, weight=weight, bake_seconds=1)
    for position, (kind, params) in enumerate({GATES!r}):
        phase.gates.create(order=position, kind=kind, params=params)
"""


@dataclass
class Stack:
    proxy: str
    env: dict[str, str]
    upstream: Path
    canary_pid: int = 0

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def canary_share(self, requests_count: int = 100) -> float:
        versions = Counter(
            requests.get(f"{self.proxy}/v1/health", timeout=10).json()["version"]
            for _ in range(requests_count)
        )
        return versions["1.0.0"] / requests_count

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.manage("rollout", "status", "--json").stdout)
        return body


@contextmanager
def nginx(upstream: Path, stable: str) -> Iterator[tuple[str, dict[str, str]]]:
    binary = require("nginx", "nginx")
    with tempfile.TemporaryDirectory(prefix="portal-nginx-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"user root;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
            "events {}\nhttp {\n  access_log off;\n"
            f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
            f"  include {upstream};\n"
            f"  server {{\n    listen 127.0.0.1:{port};\n"
            "    location / { proxy_pass http://portal_api; proxy_set_header Host $host; }\n"
            "  }\n}\n"
        )
        upstream.write_text(f"upstream portal_api {{\n    server {stable} weight=100;\n}}\n")
        base = f"{binary} -c {conf} -p {tmp}"
        subprocess.run([*base.split()], check=True)
        try:
            yield (
                f"http://127.0.0.1:{port}",
                {
                    "NGINX_UPSTREAM_FILE": str(upstream),
                    "NGINX_TEST_COMMAND": f"{base} -t",
                    "NGINX_RELOAD_COMMAND": f"{base} -s reload",
                },
            )
        finally:
            subprocess.run([*base.split(), "-s", "quit"], check=False)


@contextmanager
def stack(
    *,
    broken_canary: bool = False,
    canary_faults: bool = False,
    as_shipped: bool = False,
    canary_extra: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """`as_shipped`: every setting at its default (request log on, metrics flushed every 5 s,
    default rate limits), for the rows whose timings docs/operator/rollouts.md quotes."""
    with ExitStack() as exits:
        tmp = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="portal-e2e-")))
        shared = {
            "MEDIA_ROOT": str(tmp / "media"),
            "RATE_LIMIT_DEFAULT": "100000/m",
            "METRICS_FLUSH_SECONDS": "1",
            "REDIS_URL": "",
        }
        if as_shipped:
            shared = {"MEDIA_ROOT": shared["MEDIA_ROOT"], "REDIS_URL": "", "LOG_LEVEL": "INFO"}
        database = f"sqlite:///{tmp}/shared.sqlite3"
        stable: LiveServer = exits.enter_context(
            gunicorn(workers=1, env={**shared, "APP_VERSION": "0.9.0"}, database_url=database)
        )
        canary_env = {**shared, "APP_VERSION": "1.0.0", **(canary_extra or {})}
        if canary_faults:
            # X-Fault-Status makes this instance fail; the stable one ignores the header.
            canary_env["FAULT_INJECTION"] = "true"
        if broken_canary:
            # A canary whose database is misconfigured: it starts, but cannot serve.
            canary_env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/missing"
        canary: LiveServer = exits.enter_context(
            gunicorn(
                workers=1,
                env=canary_env,
                database_url=canary_env.get("DATABASE_URL", database),
                prepare=not broken_canary,
                wait=not broken_canary,
            )
        )
        host = lambda server: server.url.removeprefix("http://")  # noqa: E731
        upstream = tmp / "upstream.conf"
        proxy, nginx_env = exits.enter_context(nginx(upstream, host(stable)))
        env = {
            **stable.env,
            **nginx_env,
            "CANARY_URL": canary.url,
            "STABLE_URL": stable.url,
            "ROLLOUT_STABLE_UPSTREAM": host(stable),
            "ROLLOUT_CANARY_UPSTREAM": host(canary),
            "ROLLOUT_PROBE_TIMEOUT": "3",
            "ROLLOUT_NOTIFIERS": "log,status",
        }
        e2e = Stack(proxy=proxy, env=env, upstream=upstream, canary_pid=canary.pid)
        e2e.manage("shell", "-c", PLAN)
        yield e2e


def test_a_rollout_moves_real_traffic_through_every_phase_and_reports() -> None:
    with stack() as e2e:
        assert e2e.canary_share() == 0
        e2e.manage(
            "rollout", "start", "1.0.0", "--plan", "e2e", "--driver", "nginx", "--baseline", "0.9.0"
        )
        shares = {}
        while True:
            status = e2e.status()
            if status["state"] != "running":
                break
            shares[status["weight"]] = e2e.canary_share()
            time.sleep(1.1)  # the bake time
            result = e2e.manage("rollout", "tick").stdout
            assert result.startswith(("advanced", "succeeded")), result
        assert status["state"] == "succeeded"
        # nginx's weighted round robin: the observed share matches each phase's weight.
        for weight, share in shares.items():
            assert abs(share - weight / 100) <= 0.02, (weight, share)
        assert set(shares) == {5, 25, 50, 100}
        # Promoted: every request on the new version, and the canary weight back to 0 on lanes
        # whose stable one is the lane that ran the canary.
        assert e2e.canary_share() == 1.0
        assert e2e.status()["weight"] == 0
        report = e2e.manage("rollout", "report").stdout
        assert "## Phase 3: Majority Canary (50% Traffic)" in report
        assert "❌" not in report
        assert report.rstrip().endswith("✅ **COMPLETED SUCCESSFULLY**")


def test_a_broken_canary_fails_phase_one_and_is_rolled_back_to_zero() -> None:
    with stack(broken_canary=True) as e2e:
        e2e.manage("rollout", "start", "1.0.0", "--plan", "e2e", "--driver", "nginx")
        assert "weight=5;" in e2e.upstream.read_text()
        time.sleep(1.1)
        run = e2e.manage("rollout", "run", "--interval", "0.5", check=False)
        assert run.returncode == 3, run.stdout + run.stderr
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert "weight=" in e2e.upstream.read_text()
        assert "server 127.0.0.1" in e2e.upstream.read_text()
        assert e2e.canary_share() == 0
        report = e2e.manage("rollout", "report").stdout
        assert "canary_health" in report
        assert "❌ **ROLLED BACK**" in report
        entries = e2e.manage(
            "shell",
            "-c",
            "from ops.models import StatusEntry; "
            "print(sorted(e.kind for e in StatusEntry.objects.all()))",
        ).stdout
        assert "'rollback'" in entries


def test_killing_rollout_run_mid_phase_and_starting_again_finishes_once() -> None:
    with stack() as e2e:
        e2e.manage("rollout", "start", "1.0.0", "--plan", "e2e", "--driver", "nginx")
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "rollout", "run", "--interval", "0.5"],
            cwd=ROOT,
            env=e2e.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while e2e.status()["phase"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(runner.pid, signal.SIGKILL)  # a crash, mid-phase
        runner.wait()
        assert e2e.status()["state"] == "running"
        again = e2e.manage("rollout", "run", "--interval", "0.5", check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        status = e2e.status()
        assert status["state"] == "succeeded"
        actions = Counter(event["action"] for event in status["events"])
        assert (actions["start"], actions["advance"], actions["complete"]) == (1, 3, 1)


def controller(e2e: Stack, seconds: int) -> subprocess.Popen[bytes]:
    # What the CronJob runs: a tick every 10 s.
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "rollout",
            "run",
            "--controller",
            "--interval",
            "10",
            "--max-seconds",
            str(seconds),
        ],
        cwd=ROOT,
        env=e2e.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_state(e2e: Stack, state: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if e2e.status()["state"] == state:
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"not {state} within {seconds} s: {e2e.status()}")


def test_a_canary_answering_5xx_is_back_at_zero_within_a_minute_on_the_default_plan() -> None:
    # The default plan as seeded: a 20-minute first bake. The guard does not wait for it.
    with stack(canary_faults=True, as_shipped=True) as e2e:
        # The default plan's migration gate reads the release's record (no new migrations
        # here) and smokes stable on the database before phase 1.
        e2e.manage("rollout", "record-release", "1.0.0")
        e2e.manage("rollout", "start", "1.0.0", "--plan", "default", "--driver", "nginx")
        assert "weight=5;" in e2e.upstream.read_text()
        runner = controller(e2e, 120)
        stop = time.monotonic() + 90
        bad_at: float | None = None
        served_errors = 0
        session = requests.Session()
        try:
            while time.monotonic() < stop and e2e.status()["state"] == "running":
                for _ in range(20):
                    answer = session.get(
                        f"{e2e.proxy}/v1/health", headers={"X-Fault-Status": "500"}, timeout=10
                    )
                    if answer.status_code >= 500:
                        served_errors += 1
                        bad_at = bad_at or time.monotonic()
            assert bad_at is not None, "the canary never answered 5xx"
            seconds = wait_for_state(e2e, "rolled_back", 60) + (time.monotonic() - bad_at)
        finally:
            runner.terminate()
            runner.wait(timeout=30)
        print(
            f"\n5xx canary: rolled back {seconds:.0f} s after its first bad answer "
            f"({served_errors} errors served)"
        )
        assert seconds <= 60
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert e2e.canary_share() == 0


def test_a_dead_canary_is_back_at_zero_within_a_minute_on_the_default_plan() -> None:
    with stack(as_shipped=True) as e2e:
        # The default plan's migration gate reads the release's record (no new migrations
        # here) and smokes stable on the database before phase 1.
        e2e.manage("rollout", "record-release", "1.0.0")
        e2e.manage("rollout", "start", "1.0.0", "--plan", "default", "--driver", "nginx")
        os.kill(e2e.canary_pid, signal.SIGKILL)
        died = time.monotonic()
        runner = controller(e2e, 120)
        try:
            wait_for_state(e2e, "rolled_back", 75)
            seconds = time.monotonic() - died
        finally:
            runner.terminate()
            runner.wait(timeout=30)
        print(f"\ndead canary: rolled back {seconds:.0f} s after it died")
        assert seconds <= 60
        assert e2e.status()["weight"] == 0
        assert "weight=" in e2e.upstream.read_text()


SIMPLE_PLAN = """
from ops.models import RolloutPlan
plan, _ = RolloutPlan.objects.get_or_create(name="simple", defaults={"is_default": False})
plan.phases.all().delete()
plan.rollback_commands = []
plan.command_timeout = TIMEOUT
plan.save()
for order, weight in enumerate([5, 25, 50, 100], start=1):
    plan.phases.create(
        order=order, weight=weight, bake_seconds=BAKE, commands=COMMANDS.get(order, [])
    )
"""


def simple_plan(
    e2e: Stack, commands: dict[int, list[str]] | None = None, bake: int = 0, timeout: int = 300
) -> None:
    header = f"COMMANDS = {commands or {}!r}\nBAKE = {bake}\nTIMEOUT = {timeout}\n"
    e2e.manage("shell", "-c", header + SIMPLE_PLAN)


def test_a_deploy_command_failing_in_phase_1_rolls_back_and_moves_nothing() -> None:
    with stack() as e2e:
        simple_plan(e2e, {1: ["false"]})
        started = e2e.manage(
            "rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx", check=False
        )
        assert started.returncode != 0
        assert "rolled back" in started.stderr
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert e2e.canary_share() == 0
        # The lane is free: the next attempt starts.
        simple_plan(e2e)
        e2e.manage("rollout", "start", "1.0.1", "--plan", "simple", "--driver", "nginx")
        assert e2e.status()["state"] == "running"


def test_a_driver_that_refuses_the_rollback_leaves_it_pending_until_it_can() -> None:
    with stack() as e2e:
        simple_plan(e2e)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        good = dict(e2e.env)
        e2e.env["NGINX_TEST_COMMAND"] = "false"  # the load balancer refuses new config
        refused = e2e.manage("rollout", "rollback", "--reason", "bad canary", check=False)
        assert refused.returncode == 0, refused.stderr
        status = e2e.status()
        # Honest: traffic is still where the driver left it, and the lane stays held.
        assert (status["state"], status["weight"]) == ("rollback_pending", 5)
        assert 0 < e2e.canary_share(200) < 0.15
        e2e.env = good
        time.sleep(11)  # the first retry's back-off
        assert e2e.manage("rollout", "tick").stdout.startswith("rolled_back")
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert e2e.canary_share() == 0


def test_two_concurrent_cli_advances_from_one_phase_advance_once() -> None:
    with stack() as e2e:
        simple_plan(e2e)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        command = [sys.executable, "manage.py", "rollout", "advance", "--expect-phase", "1"]
        both = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=e2e.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        codes = sorted(process.wait(timeout=60) for process in both)
        assert codes == [0, 2], codes
        status = e2e.status()
        assert (status["phase"], status["weight"]) == (2, 25)


def test_a_canary_that_dies_at_100_percent_is_pulled_within_a_minute() -> None:
    with stack() as e2e:
        simple_plan(e2e, bake=1200)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        for phase in (1, 2, 3):
            e2e.manage("rollout", "advance", "--expect-phase", str(phase), "--reason", "to 4")
        assert (e2e.status()["phase"], e2e.canary_share()) == (4, 1.0)
        os.kill(e2e.canary_pid, signal.SIGKILL)
        died = time.monotonic()
        runner = controller(e2e, 120)
        try:
            wait_for_state(e2e, "rolled_back", 75)
            bad_at_full = time.monotonic() - died
        finally:
            runner.terminate()
            runner.wait(timeout=30)
        print(f"\ncanary dead at 100 %: rolled back {bad_at_full:.0f} s after it died")
        assert bad_at_full <= 60
        # Everything back on the stable lane, which still runs the known-good 0.9.0.
        assert e2e.status()["weight"] == 0
        assert e2e.canary_share() == 0


def test_a_deploy_command_failing_in_phase_4_rolls_back_from_50_percent() -> None:
    with stack() as e2e:
        simple_plan(e2e, {4: ["false"]})
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        e2e.manage("rollout", "advance", "--expect-phase", "1", "--reason", "to 25")
        e2e.manage("rollout", "advance", "--expect-phase", "2", "--reason", "to 50")
        failed = e2e.manage(
            "rollout", "advance", "--expect-phase", "3", "--reason", "to 100", check=False
        )
        assert failed.returncode == 2, failed.stdout + failed.stderr
        status = e2e.status()
        # The failed command moved no traffic; the controller then rolls back.
        assert (status["state"], status["phase"], status["weight"]) == ("running", 3, 50)
        assert e2e.manage("rollout", "tick").stdout.startswith(("advanced", "rolled_back"))
        run = e2e.manage("rollout", "run", "--interval", "0.5", check=False)
        assert run.returncode == 3, run.stdout + run.stderr
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert e2e.canary_share() == 0


def test_a_pause_during_a_tick_wins() -> None:
    with stack() as e2e:
        e2e.manage("shell", "-c", SLOW_GATE_PLAN)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "slow-gate", "--driver", "nginx")
        tick = subprocess.Popen(
            [sys.executable, "manage.py", "rollout", "tick"],
            cwd=ROOT,
            env=e2e.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The tick is judging its slow gate once it talks to the canary (a fixed wait raced a
        # slow Django start-up).
        wait_for_connection(tick.pid, int(e2e.env["CANARY_URL"].rsplit(":", 1)[1]), seconds=60)
        e2e.manage("rollout", "pause", "--reason", "a person looks")
        out, _ = tick.communicate(timeout=120)
        status = e2e.status()
        assert (status["state"], status["phase"], status["weight"]) == ("paused", 1, 5), out
        assert "nothing was done" in out


def wait_for_connection(pid: int, port: int, seconds: float) -> None:
    """Waits until process `pid` holds a TCP connection to 127.0.0.1:`port` (Linux /proc)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
                return
        time.sleep(0.05)
    raise AssertionError(f"{pid} opened no connection to port {port} within {seconds}s")


def wait_for_descendant(pid: int, argv: list[str], seconds: float) -> None:
    """Waits until a process below `pid` runs `argv` (read from /proc: Linux only)."""
    deadline = time.monotonic() + seconds
    wanted = "\0".join(argv).encode() + b"\0"
    while time.monotonic() < deadline:
        parents: dict[int, int] = {}
        commands: dict[int, bytes] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                commands[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        for child, command in commands.items():
            if command != wanted:
                continue
            ancestor = parents.get(child, 0)
            while ancestor > 1 and ancestor != pid:
                ancestor = parents.get(ancestor, 0)
            if ancestor == pid:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {argv} below {pid} within {seconds}s")


def test_an_action_interrupted_mid_command_is_carried_out_by_the_controller() -> None:
    with stack() as e2e:
        simple_plan(e2e, {2: ["sleep 3"]}, timeout=5)
        e2e.env["ROLLOUT_INTENT_GRACE_SECONDS"] = "1"
        e2e.env["ROLLOUT_DRIVER_TIMEOUT_SECONDS"] = "2"
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        advance = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rollout",
                "advance",
                "--expect-phase",
                "1",
                "--reason",
                "x",
            ],
            cwd=ROOT,
            env=e2e.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Inside `sleep 3` the intent is committed and nothing else is. A fixed wait raced a
        # slow Django start-up: killed before the intent, the advance never happened.
        wait_for_descendant(advance.pid, ["sleep", "3"], seconds=60)
        advance.kill()
        advance.wait(timeout=30)
        status = e2e.status()
        assert (status["phase"], status["weight"]) == (1, 5)
        time.sleep(1)
        resumed = e2e.manage("rollout", "tick").stdout
        deadline = time.monotonic() + 60
        while not resumed.startswith("resumed") and time.monotonic() < deadline:
            time.sleep(1)
            resumed = e2e.manage("rollout", "tick").stdout
        assert resumed.startswith("resumed"), resumed
        status = e2e.status()
        assert (status["state"], status["phase"], status["weight"]) == ("running", 2, 25)
        assert abs(e2e.canary_share() - 0.25) <= 0.02


def test_a_webhook_that_never_answers_holds_up_no_action() -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        with stack() as e2e:
            simple_plan(e2e)
            e2e.env["ROLLOUT_NOTIFIERS"] = "log,status,webhook"
            e2e.env["ROLLOUT_WEBHOOK_URL"] = f"http://127.0.0.1:{silent.getsockname()[1]}/"
            e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
            began = time.monotonic()
            e2e.manage("rollout", "abort", "--reason", "stop now")
            assert time.monotonic() - began < 5  # a Django start-up, not a webhook's timeouts
            assert (e2e.status()["state"], e2e.canary_share()) == ("aborted", 0)
    finally:
        silent.close()


SLOW_GATE_PLAN = """
from ops.models import RolloutPlan
plan, _ = RolloutPlan.objects.get_or_create(name="slow-gate", defaults={"is_default": False})
plan.phases.all().delete()
for order, weight in enumerate([5, 25, 50, 100], start=1):
    phase = plan.phases.create(order=order, weight=weight, bake_seconds=0)
    # Slow enough (several seconds) that the pause below lands while it is being judged.
    phase.gates.create(order=0, kind="load_test", params={"iterations": 3000})
"""


SLOW_CANARY_PLAN = """
from ops.models import RolloutPlan
plan, _ = RolloutPlan.objects.get_or_create(name="latency", defaults={"is_default": False})
plan.phases.all().delete()
for order, weight in enumerate([5, 25, 50, 100], start=1):
    phase = plan.phases.create(order=order, weight=weight, bake_seconds=10)
    phase.gates.create(order=0, kind="latency", params={
        "endpoint": "/v*/health", "quantile": 0.95, "threshold_ms": 300,
        "window_seconds": 60, "min_samples": 5})
"""


def test_a_slow_canary_fails_its_latency_gate_at_the_end_of_the_bake() -> None:
    with stack(canary_faults=True) as e2e:
        e2e.manage("shell", "-c", SLOW_CANARY_PLAN)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "latency", "--driver", "nginx")
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "rollout", "run", "--interval", "2"],
            cwd=ROOT,
            env=e2e.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        session = requests.Session()
        started = time.monotonic()
        try:
            while e2e.status()["state"] == "running" and time.monotonic() - started < 60:
                for _ in range(20):  # 5 % of these reach the canary, 600 ms late
                    session.get(
                        f"{e2e.proxy}/v1/health", headers={"X-Fault-Delay-Ms": "600"}, timeout=10
                    )
            seconds = time.monotonic() - started
        finally:
            runner.wait(timeout=60)
        print(f"\nslow canary: rolled back {seconds:.0f} s after start (10 s bake)")
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rolled_back", 0)
        assert seconds <= 40
        report = e2e.manage("rollout", "report").stdout
        assert "| latency |" in report
        assert "❌ FAIL" in report


def test_a_promotion_racing_the_controller_never_disagrees_with_the_traffic() -> None:
    """A person promotes at phase 4 while controller ticks judge and act: whoever wins, the
    record ends succeeded with the canary's lane stable, and no request meanwhile reaches the
    old version (phase 4 and the promoted end state route the same traffic)."""
    with stack() as e2e:
        simple_plan(e2e, bake=0)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        for phase in (1, 2, 3):
            e2e.manage("rollout", "advance", "--expect-phase", str(phase), "--reason", "to 4")
        assert (e2e.status()["phase"], e2e.canary_share()) == (4, 1.0)
        seen: list[str] = []
        stop = threading.Event()

        def watch() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    seen.append(session.get(f"{e2e.proxy}/v1/health", timeout=10).json()["version"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        ticks = [
            subprocess.Popen(
                [sys.executable, "manage.py", "rollout", "tick"], cwd=ROOT, env=e2e.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(3)
        ]  # fmt: skip
        rollout = str(e2e.status()["id"])
        person = e2e.manage(
            "rollout", "advance", rollout, "--expect-phase", "4", "--reason", "go", check=False
        )
        for process in ticks:
            process.wait(timeout=120)
        stop.set()
        watcher.join(30)
        status = e2e.status()
        assert (status["state"], status["weight"], status["intent"]) == ("succeeded", 0, None)
        # The person won (exit 0) or a tick promoted first (exit 2, nothing done twice).
        assert person.returncode in {0, 2}, person.stderr
        assert [e["action"] for e in status["events"]].count("complete") == 1
        assert "rollback" not in [e["action"] for e in status["events"]]
        assert len(seen) > 20
        assert set(seen) == {"1.0.0"}, Counter(seen)
        assert e2e.canary_share() == 1.0  # lane B, now stable, serves everything
        lanes = e2e.manage("shell", "-c", LANES).stdout.strip().splitlines()[-1]
        assert lanes == "True"


LANES = "from ops.rollouts import lanes; print(lanes.current().swapped)"


def test_an_abort_with_an_unwritable_nginx_config_is_pending_alerted_then_done() -> None:
    with stack() as e2e:
        simple_plan(e2e)
        e2e.manage("rollout", "start", "1.0.0", "--plan", "simple", "--driver", "nginx")
        good = dict(e2e.env)
        blocker = e2e.upstream.parent / "not-a-directory"
        blocker.write_text("a file where the config's directory should be")
        e2e.env["NGINX_UPSTREAM_FILE"] = str(blocker / "upstream.conf")
        aborted = e2e.manage("rollout", "abort", "--reason", "stop", check=False)
        assert aborted.returncode == 0, aborted.stderr
        assert "Traceback" not in aborted.stderr
        assert "ALERT: rollback of Portal API 1.0.0 is pending" in aborted.stderr
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("rollback_pending", 5)
        assert 0 < e2e.canary_share(200) < 0.15  # honest: nothing moved
        # The controller keeps trying without crashing while the path stays broken...
        time.sleep(11)
        tick = e2e.manage("rollout", "tick", check=False)
        assert (tick.returncode, tick.stdout.split(":")[0]) == (0, "rollback_pending")
        # ...and gets through once it can write again.
        e2e.env = good
        time.sleep(21)  # the second retry's back-off
        assert e2e.manage("rollout", "tick").stdout.startswith("rolled_back")
        status = e2e.status()
        assert (status["state"], status["weight"]) == ("aborted", 0)
        assert e2e.canary_share() == 0
