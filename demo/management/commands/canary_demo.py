"""manage.py canary_demo (`make canary`): a rollout you can watch working, on one machine.

On the embedded defaults (or whatever DATABASE_URL says) it starts, beside each other:

- the **stable** server (this version) on PORT, and a **canary** server of a newer version on
  CANARY_PORT, both gunicorn on the same database;
- the **controller** (`rollout run --controller`), ticking every few seconds, restarted when it
  exits as the CronJob would be;
- a little **traffic** from a demo tenant, split between the two servers by the rollout's weight
  (what the load balancer does in production; the rollout uses the `record` driver);

then starts a rollout of the canary on the **demo** plan (5 → 25 → 50 → 100 %, bakes of
seconds, the same gate kinds as the default plan) and reports each phase as it goes. With
`--broken` the canary fails a share of its requests under traffic (FAULT_ERRORS) and the
controller rolls it back. Everything keeps serving until Ctrl-C, like `make run`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, transaction

from ops.models import Gate, Release, Rollout, RolloutPlan, TrafficLanes
from ops.rollouts.lint import lint_plan
from ops.rollouts.services import rollout_abort, rollout_force_rollback
from portal.models import Tenant
from portal.tenancy.services import token_create

PLAN = "demo"
TRAFFIC_TENANT = "demo-traffic"
ACTOR = "make canary"
WINDOW = 120
# Every gate kind that judges served traffic, as in the default plan, with windows and
# sample counts that the demo's customer traffic fills within a phase: at 5 % of 16 requests
# a second the canary serves about 100 customer requests in two minutes. (The controller's
# probes can fail a canary but never pass one, so customers must supply the evidence.)
GATES: list[tuple[str, dict[str, Any]]] = [
    ("canary_health", {}),
    ("error_rate", {"max_rate": 0.02, "window_seconds": WINDOW, "min_samples": 20}),
    (
        "latency",
        {
            "endpoint": "/v*/contacts",
            "quantile": 0.95,
            "threshold_ms": 500,
            "window_seconds": WINDOW,
            "min_samples": 20,
        },
    ),
    (
        "baseline",
        {"endpoints": ["/v*/contacts", "/v*/jobs"], "window_seconds": WINDOW, "min_samples": 20},
    ),
]
PHASES = [(5, 20), (25, 20), (50, 20), (100, 20)]  # weight, bake seconds
# What the broken canary does: a third of these routes' requests answer 500.
BROKEN_FAULTS = "/v*/contacts=0.3,/v*/jobs=0.3"
ROUTES = ["/v1/contacts?limit=20", "/v1/jobs?limit=20", "/v1/contacts?limit=5&ordering=-name"]


def next_version(stable: str) -> str:
    """The canary's version: the next minor of a semantic version, made unique among the
    releases this database has seen (each `make canary` rolls out a new one)."""
    parts = stable.split("+")[0].split("-")[0].split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        base = f"{parts[0]}.{int(parts[1]) + 1}.0"
    else:
        base = f"{stable}-canary"
    version, n = base, 1
    while Release.objects.filter(version=version).exists() or version == stable:
        n += 1
        version = f"{base}-{n}"
    return version


@transaction.atomic
def demo_plan(migration: str = "") -> RolloutPlan:
    plan, _ = RolloutPlan.objects.update_or_create(
        name=PLAN,
        defaults={
            "description": "make canary: every phase bakes 20 s and judges the last two minutes",
            "is_default": False,
            "max_bake_extension_seconds": 180,
            "max_gate_failures": 1,
            "promotion": RolloutPlan.Promotion.SWAP_LANES,
            "rollback_commands": [],
            "cleanup_commands": [],
            # The release's migrate Job: the canary's code (DEMO_MIGRATIONS) migrates.
            "migrate_commands": [
                f"env DEMO_MIGRATIONS={migration or ''} {sys.executable} "
                f"{settings.BASE_DIR / 'manage.py'} migrate --noinput"
            ],
        },
    )
    plan.phases.all().delete()
    for order, (weight, bake) in enumerate(PHASES, start=1):
        phase = plan.phases.create(order=order, weight=weight, bake_seconds=bake)
        # Phase 1 judges the release's migrations first, as the seeded plans do.
        gates = [("migrations_safe", {}), *GATES] if order == 1 else GATES
        Gate.objects.bulk_create(
            Gate(phase=phase, order=i, kind=kind, params=params)
            for i, (kind, params) in enumerate(gates)
        )
    return plan


def clear_the_lane() -> list[str]:
    """A rollout left in flight by an earlier run holds the canary slot: end it, and put the
    lanes back where the servers are (stable on PORT)."""
    notes = []
    reason = "make canary restarted: a new local canary replaces this one"
    for rollout in Rollout.objects.live():
        if rollout.state == Rollout.State.ROLLBACK_PENDING:
            rollout_force_rollback(rollout_id=rollout.pk, actor=ACTOR, reason=reason)
        else:
            rollout_abort(rollout_id=rollout.pk, actor=ACTOR, reason=reason)
        notes.append(f"ended rollout {rollout.pk} ({rollout.release.version}) left by a run")
    TrafficLanes.objects.update_or_create(pk=1, defaults={"swapped": False})
    return notes


# How long the walkthrough gives its servers and controller, all at once, to stop by themselves
# on Ctrl-C or SIGTERM before it kills them: a demo has nothing to drain, and a stuck child must
# never keep `make canary` (or whatever runs it) waiting.
STOP_SECONDS = 10.0


class Children:
    """The processes the walkthrough started, each in a process group of its own (a gunicorn
    master with its workers, the controller), so stopping one stops all of it. Nothing starts
    once stopping has begun, and `stop` ends every group within `grace` seconds: SIGTERM to all
    at once, SIGKILL to whatever is left."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **options: Any) -> subprocess.Popen[bytes] | None:
        """Popen in a new process group; None when stopping has begun."""
        with self._lock:
            if self.stopping.is_set():
                return None
            process = subprocess.Popen(args, process_group=0, **options)  # noqa: S603 - our own commands
            self._running.append(process)
            return process

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        """A child that ended by itself."""
        with self._lock:
            if process in self._running:
                self._running.remove(process)

    def stop(self, grace: float = STOP_SECONDS) -> list[int]:
        """Stops every group; returns the pids of those that had to be killed."""
        with self._lock:
            self.stopping.set()
            running, self._running = self._running, []
        for process in running:
            self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        killed = []
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(process.pid)
            # The leader may be gone while a worker of its group lingers: kill the group anyway.
            self._signal(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        return killed

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


@dataclass
class Server:
    name: str
    url: str
    version: str
    process: subprocess.Popen[bytes]


@dataclass
class Traffic:
    """Requests a second from the demo tenant, each sent to the canary with the rollout's
    weight as its probability: the split a weighted load balancer makes."""

    token: str
    stable: Server
    canary: Server
    rate: float
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def split(self) -> tuple[str, str, int]:
        """(stable url, canary url, weight) as the database says now."""
        close_old_connections()
        rollout = Rollout.objects.order_by("-created_at").first()
        weight = rollout.weight if rollout and rollout.state in Rollout.LIVE_STATES else 0
        swapped = TrafficLanes.objects.filter(pk=1, swapped=True).exists()
        first, second = (self.canary, self.stable) if swapped else (self.stable, self.canary)
        return first.url, second.url, weight

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        checked, (stable, canary, weight) = 0.0, ("", "", 0)
        while not self.stop.is_set():
            if time.monotonic() - checked > 1:
                with contextlib.suppress(Exception):
                    stable, canary, weight = self.split()
                checked = time.monotonic()
            url = canary if random.random() * 100 < weight else stable  # noqa: S311
            lane = "canary" if url == self.canary.url else "stable"
            try:
                status = session.get(url + random.choice(ROUTES), timeout=10).status_code  # noqa: S311
            except requests.RequestException:
                status = 0
            bucket = self.counts.setdefault(lane, {})
            bucket[status] = bucket.get(status, 0) + 1
            self.stop.wait(1 / self.rate)


@dataclass(frozen=True)
class Demo:
    """One walkthrough's settings, checked."""

    host: str
    port: int
    canary_port: int
    logs: Path
    stable_version: str
    canary_version: str
    token: str
    migration: str
    broken: bool
    rate: float
    tick: float
    exit_when_done: bool

    @property
    def lanes(self) -> dict[str, str]:
        base = f"http://{self.host}"
        return {"STABLE_URL": f"{base}:{self.port}", "CANARY_URL": f"{base}:{self.canary_port}"}


class Command(BaseCommand):
    help = (
        "make canary: start a stable and a canary server of a newer version, the controller "
        "and a little traffic, and roll the canary out on the fast demo plan (development only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default=os.environ.get("HOST", "127.0.0.1"), help="Bind address."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="The stable server's port (default PORT, else 8000).",
        )
        parser.add_argument(
            "--canary-port",
            type=int,
            default=None,
            help="The canary server's port (default CANARY_PORT, else the stable port + 1).",
        )
        parser.add_argument(
            "--migration",
            choices=["breaking", "expand"],
            default=None,
            help="The canary's code carries a migration (DEMO_MIGRATIONS): breaking drops a "
            "column stable reads, and the migration gate refuses it before any traffic moves; "
            "expand adds a nullable column, and it goes out.",
        )
        parser.add_argument(
            "--broken",
            action="store_true",
            help="The canary fails 30 %% of its list requests under traffic: watch the "
            "controller roll it back (make canary BROKEN=1).",
        )
        parser.add_argument(
            "--rate", type=float, default=16.0, help="Requests a second of demo traffic."
        )
        parser.add_argument(
            "--tick", type=float, default=3.0, help="Seconds between controller ticks."
        )
        parser.add_argument(
            "--logs",
            default=os.environ.get("CANARY_LOG_DIR")
            or str(Path(settings.BASE_DIR) / "var" / "canary"),
            help="Where the servers' and the controller's logs go (default CANARY_LOG_DIR, "
            "else var/canary).",
        )
        parser.add_argument(
            "--exit-when-done",
            action="store_true",
            help="Stop everything once the rollout has ended (tests); by default keep serving "
            "until Ctrl-C.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        demo = self._prepare(options)
        children = Children()
        interrupted = False

        def interrupt(*_: Any) -> None:
            # SIGTERM (and a closed terminal) end the walkthrough as Ctrl-C does: an exception
            # in the main thread, once. A handler runs between two bytecodes of the main
            # thread, which may be holding the very lock `Event.set` takes (inside
            # `stopping.wait`): setting the event here deadlocked the stop now and then, and
            # left every child running. Later signals (make forwards one of its own, a second
            # Ctrl-C) do nothing, so they cannot cut the stop short. The servers and the
            # controller are in process groups of their own: a signal to this one reaches them
            # only through `children.stop`, which bounds how long they take.
            nonlocal interrupted
            if not interrupted:
                interrupted = True
                raise KeyboardInterrupt

        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {signum: signal.signal(signum, interrupt) for signum in signals}
        try:
            self._walkthrough(demo, children)
        except KeyboardInterrupt:
            pass
        finally:
            interrupted = True  # from here on, a signal changes nothing
            killed = children.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if killed:
                self.stdout.write(
                    f"Killed {len(killed)} process group(s) still running {STOP_SECONDS:.0f} s "
                    f"after the stop (pids {', '.join(map(str, killed))}); see {demo.logs}."
                )
            self.stdout.write("Stopped.")

    def _prepare(self, options: dict[str, Any]) -> Demo:
        """Checks the options, clears the lane of earlier runs, lints the plan."""
        if settings.PRODUCTION:
            raise CommandError("canary_demo is a local walkthrough; it refuses production")
        port = options["port"]
        canary_port = options["canary_port"] or int(os.environ.get("CANARY_PORT", port + 1))
        if canary_port == port:
            raise CommandError("The canary needs a port of its own (--canary-port)")
        logs = Path(options["logs"])
        logs.mkdir(parents=True, exist_ok=True)
        for note in clear_the_lane():
            self.stdout.write(note)
        plan = demo_plan(options["migration"] or "")
        errors = [str(f) for f in lint_plan(plan) if f.severity == "error"]
        if errors:  # the plan above is code: a lint error is a bug here
            raise CommandError(f"The demo plan does not lint: {errors}")
        return Demo(
            host=options["host"],
            port=port,
            canary_port=canary_port,
            logs=logs,
            stable_version=settings.APP_VERSION,
            canary_version=next_version(settings.APP_VERSION),
            token=self._traffic_token(),
            migration=options["migration"] or "",
            broken=bool(options["broken"]),
            rate=options["rate"],
            tick=options["tick"],
            exit_when_done=bool(options["exit_when_done"]),
        )

    def _walkthrough(self, demo: Demo, children: Children) -> None:
        """Both servers, the traffic, the controller and the rollout, followed to its end."""
        stable = self._serve(
            "stable", demo.host, demo.port, demo.stable_version, {}, demo.logs, children
        )
        canary_env = {"FAULT_INJECTION": "true", "FAULT_ERRORS": BROKEN_FAULTS}
        release_env = {"DEMO_MIGRATIONS": demo.migration}
        canary = self._serve(
            "canary",
            demo.host,
            demo.canary_port,
            demo.canary_version,
            {**(canary_env if demo.broken else {}), **release_env},
            demo.logs,
            children,
        )
        # The release's own code records what it does to the database, before migrating.
        recorded = self._manage(
            "rollout", "record-release", demo.canary_version, env=release_env, check=False
        )
        self.stdout.write(recorded.strip())
        self._seed_traffic_tenant(stable.url, demo.token)
        traffic = Traffic(token=demo.token, stable=stable, canary=canary, rate=demo.rate)
        threading.Thread(target=traffic.run, daemon=True, name="traffic").start()
        controller = threading.Thread(
            target=self._controller,
            args=(demo.tick, demo.lanes, demo.logs, children),
            daemon=True,
            name="controller",
        )
        controller.start()
        stopping = children.stopping
        try:
            started = self._manage(
                "rollout", "--actor", ACTOR, "start", demo.canary_version, "--plan", PLAN,
                "--driver", "record", "--baseline", demo.stable_version, env=demo.lanes,
            )  # fmt: skip
        except CommandError as exc:
            self.stdout.write(
                f"\nThe migration gate stopped {demo.canary_version} before any traffic moved:"
                f"\n{exc}\nStable keeps serving every customer; Ctrl-C ends the demo."
            )
            stopping.wait()
            return
        rollout = Rollout.objects.order_by("-created_at").first()
        if rollout is None:
            raise CommandError("The rollout did not start")
        self.stdout.write(started.strip().splitlines()[0] if started.strip() else "")
        self._explain(stable, canary, rollout.pk, demo.host, demo.port, demo.broken)
        final = self._follow(rollout.pk, stopping)
        counts = {lane: dict(sorted(c.items())) for lane, c in traffic.counts.items()}
        self.stdout.write(f"Demo traffic so far (status: count): {counts}")
        if final is not None and demo.exit_when_done:
            return
        self.stdout.write("Still serving: stable, canary and controller. Ctrl-C stops them.")
        while not stopping.is_set():
            stopping.wait(1)

    # --- pieces ---------------------------------------------------------------------------

    def _traffic_token(self) -> str:
        tenant, _ = Tenant.objects.update_or_create(
            slug=TRAFFIC_TENANT,
            defaults={"name": "Demo traffic (make canary)", "rate_limit_default": "6000/m"},
        )
        _, raw = token_create(tenant=tenant, name="make-canary", rotate=True)
        return raw

    @staticmethod
    def _seed_traffic_tenant(url: str, token: str) -> None:
        """A few contacts and jobs, through the API, so the lists the traffic reads are real."""
        headers = {"Authorization": f"Bearer {token}"}
        total = requests.get(f"{url}/v1/contacts?limit=1", headers=headers, timeout=10)
        if total.json().get("total", 0) >= 30:
            return
        for i in range(30):
            contact = requests.post(
                f"{url}/v1/contacts",
                json={"name": f"Demo contact {i:02d}", "email": f"demo{i}@example.com"},
                headers=headers,
                timeout=10,
            ).json()
            if i % 3 == 0:
                requests.post(
                    f"{url}/v1/jobs",
                    json={"title": f"Demo job {i:02d}", "contact_id": contact["id"]},
                    headers=headers,
                    timeout=10,
                )

    def _serve(
        self,
        lane: str,
        host: str,
        port: int,
        version: str,
        extra: dict[str, str],
        logs: Path,
        children: Children,
    ) -> Server:
        env = {
            **os.environ,
            "APP_VERSION": version,
            "LOCAL_LANE": lane,
            "PORT": str(port),
            "DJANGO_SETTINGS_MODULE": "portal.config.settings",
            **extra,
        }
        with (logs / f"{lane}.log").open("ab") as log:
            process = children.start(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    *("-c", "gunicorn.conf.py", "--bind", f"{host}:{port}", "portal.config.wsgi"),
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if process is None:
            raise KeyboardInterrupt  # stopped while starting
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not children.stopping.is_set():
            if process.poll() is not None:
                raise CommandError(
                    f"The {lane} server exited ({process.returncode}); see {logs / lane}.log "
                    f"(is port {port} taken? set --port / --canary-port)"
                )
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"{url}/v1/health", timeout=2) as response,  # noqa: S310
            ):
                if response.status == 200:
                    self.stdout.write(f"{lane:>6}: {version} at {url} (log: {logs / lane}.log)")
                    return Server(lane, url, version, process)
            children.stopping.wait(0.3)
        if children.stopping.is_set():
            raise KeyboardInterrupt
        raise CommandError(f"The {lane} server at {url} never became healthy")

    def _controller(
        self,
        tick: float,
        lanes: dict[str, str],
        logs: Path,
        children: Children,
    ) -> None:
        """`rollout run --controller`, as the CronJob runs it, restarted whenever it exits."""
        with (logs / "controller.log").open("ab") as log:
            while True:
                process = children.start(
                    [
                        sys.executable, "manage.py", "rollout", "run", "--controller",
                        "--interval", str(tick), "--max-seconds", "600",
                    ],
                    cwd=settings.BASE_DIR,
                    env={**os.environ, **lanes},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
                if process is None:
                    return
                while process.poll() is None and not children.stopping.is_set():
                    children.stopping.wait(0.5)
                if process.poll() is not None:  # exited by itself: start the next one
                    children.forget(process)

    def _manage(self, *args: str, env: dict[str, str], check: bool = True) -> str:
        result = subprocess.run(  # noqa: S603 - manage.py with this command's own arguments
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if not check:
            return result.stdout + result.stderr
        if result.returncode:
            raise CommandError(f"manage.py {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _explain(
        self, stable: Server, canary: Server, rollout_id: int, host: str, port: int, broken: bool
    ) -> None:
        outcome = (
            "its error-rate and baseline gates fail and the controller rolls it back"
            if broken
            else "every gate passes and it is promoted"
        )
        self.stdout.write(
            f"\nRolling out {canary.version} over {stable.version} on the '{PLAN}' plan: "
            f"{' → '.join(f'{w}%' for w, _ in PHASES)}, {PHASES[0][1]} s bakes; {outcome}.\n"
            f"  Watch it:   http://{host}:{port}/ops/rollouts/{rollout_id} (log in with the "
            "demo staff login above)\n"
            f"  From a shell: .venv/bin/python manage.py rollout status {rollout_id}\n"
        )

    def _follow(self, rollout_id: int, stopping: threading.Event) -> str | None:
        """Prints each phase and the end; returns the final state (None: stopped first)."""
        seen: tuple[str, int] | None = None
        started = time.monotonic()
        while not stopping.is_set():
            close_old_connections()
            rollout = Rollout.objects.select_related("release").get(pk=rollout_id)
            now = (rollout.state, rollout.phase_index)
            if now != seen:
                seen = now
                elapsed = time.monotonic() - started
                self.stdout.write(
                    f"[{elapsed:5.0f} s] {rollout.state}: phase {rollout.phase_index}, "
                    f"{rollout.weight}% on {rollout.release.version}"
                )
            if rollout.state in Rollout.FINAL_STATES:
                last = rollout.events.order_by("-at", "-id").first()
                reason = f" — {last.reason}" if last and last.reason else ""
                self.stdout.write(f"Rollout {rollout_id} {rollout.state}{reason}")
                return str(rollout.state)
            stopping.wait(1)
        return None
