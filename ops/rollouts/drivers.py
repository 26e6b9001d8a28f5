"""Traffic drivers: how a rollout's canary weight reaches the load balancer.

- `record` (local default): the weight is only recorded.
- `nginx`: writes a weighted upstream file atomically, checks the configuration, reloads nginx.
- `aws-alb`: points an ALB listener's default action at the stable and canary target groups
  with the weights (`modify-listener` with a weighted forward config), through boto3.

A driver is told the weight *and* the lanes' roles to express it in, so a promotion can write
"everything on lane B, now stable" before the swap is recorded. Drivers are called only
through `drive()`: it holds no database lock, gives the call its own deadline, and turns every
fault (OSError, a timeout, a non-zero exit, a library's own error) into a DriverError.
"""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from ops.models import Rollout
from ops.rollouts.lanes import Lanes


class DriverError(Exception):
    pass


class TrafficDriver(Protocol):
    name: str

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        """Sends `weight` percent of traffic to `roles`' canary lane, the rest to its stable
        lane; returns output for the event log. Raises on failure (the transition then does
        not happen)."""
        ...


class RecordDriver:
    name = "record"

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        lane = "B" if roles.swapped else "A"
        return (
            f"recorded canary weight {weight}%, stable lane {lane} "
            "(record driver: no traffic is moved)"
        )


def drive(driver: TrafficDriver, rollout: Rollout, weight: int, roles: Lanes) -> str:
    """One driver call with its own deadline (ROLLOUT_DRIVER_TIMEOUT_SECONDS). Every way it can
    go wrong is a DriverError, so a caller has one failure to handle: abort and rollback turn it
    into "rollback pending", never a traceback. The call runs in a thread of its own so that a
    hung write or API call cannot hold the transition past its deadline."""
    timeout = settings.ROLLOUT_DRIVER_TIMEOUT_SECONDS
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"driver-{driver.name}")
    future = pool.submit(driver.set_weight, rollout, weight, roles)
    try:
        return future.result(timeout=timeout)
    except DriverError:
        raise
    except concurrent.futures.TimeoutError:
        raise DriverError(f"no answer within {timeout}s") from None
    except Exception as exc:
        raise DriverError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        pool.shutdown(wait=False)


def run_command(command: str | list[str], timeout: float) -> str:
    """Runs a command without a shell; returns its output or raises DriverError. A string is an
    operator's setting, split like a shell would; a list is already its arguments."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise DriverError(f"{command!r} is malformed: {exc}") from exc
    if not argv:
        raise DriverError("Empty command")
    command = shlex.join(argv)
    try:
        # Operator-configured commands (settings or plan data), run without a shell.
        result = subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(f"{command}: {exc}") from exc
    output = f"$ {command}\n{result.stdout}{result.stderr}".rstrip()
    if result.returncode != 0:
        raise DriverError(f"{output}\n(exit status {result.returncode})")
    return output


def nginx_upstream(*, stable: str, canary: str, weight: int, rollout_id: int | None) -> str:
    servers = []
    if weight < 100:
        servers.append(f"    server {stable} weight={100 - weight};")
    if weight > 0:
        servers.append(f"    server {canary} weight={weight};")
    return (
        f"# Written by the Portal API rollout controller (rollout {rollout_id}): "
        f"canary {weight}%, stable {100 - weight}%.\n"
        f"upstream {settings.NGINX_UPSTREAM_NAME} {{\n" + "\n".join(servers) + "\n}\n"
    )


class NginxDriver:
    name = "nginx"

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        path = Path(settings.NGINX_UPSTREAM_FILE)
        previous = path.read_text() if path.exists() else None
        content = nginx_upstream(
            stable=roles.stable_upstream,
            canary=roles.canary_upstream,
            weight=weight,
            rollout_id=rollout.pk,
        )
        self._write(path, content)
        try:
            output = [run_command(settings.NGINX_TEST_COMMAND, 30)]
            output.append(run_command(settings.NGINX_RELOAD_COMMAND, 30))
        except DriverError as exc:
            # Never leave nginx pointed at a file it refused.
            try:
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    self._write(path, previous)
            except OSError as restore:
                message = f"{exc}\nand the previous file could not be restored: {restore}"
                raise DriverError(message) from restore
            raise
        return f"wrote {path}:\n{content}" + "\n".join(output)

    @staticmethod
    def _write(path: Path, content: str) -> None:
        # A reader (nginx) sees the old file or the new one, never half of either.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class AwsAlbDriver:
    """What `aws elbv2 modify-listener --default-actions file://canary-5pct.json` does."""

    name = "aws-alb"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Bounded, so a call always ends well inside the driver's own deadline.
            timeouts = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3})
            self._client = boto3.client(
                "elbv2", region_name=settings.AWS_ALB_REGION, config=timeouts
            )
        return self._client

    @staticmethod
    def actions(weight: int, roles: Lanes) -> list[dict[str, Any]]:
        return [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": roles.stable_target_group, "Weight": 100 - weight},
                        {"TargetGroupArn": roles.canary_target_group, "Weight": weight},
                    ]
                },
            }
        ]

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        arns = (
            settings.ALB_LISTENER_ARN,
            settings.ALB_STABLE_TARGET_GROUP_ARN,
            settings.ALB_CANARY_TARGET_GROUP_ARN,
        )
        if not all(arns):
            raise DriverError(
                "aws-alb needs ALB_LISTENER_ARN, ALB_STABLE_TARGET_GROUP_ARN and "
                "ALB_CANARY_TARGET_GROUP_ARN"
            )
        try:
            response = self.client.modify_listener(
                ListenerArn=settings.ALB_LISTENER_ARN, DefaultActions=self.actions(weight, roles)
            )
        except (BotoCoreError, ClientError) as exc:
            raise DriverError(f"modify_listener failed: {exc}") from exc
        groups = response["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        shares = ", ".join(f"{g['TargetGroupArn'].split('/')[-2]} {g['Weight']}" for g in groups)
        return f"aws elbv2 modify-listener {settings.ALB_LISTENER_ARN}: {shares}"


DRIVERS: dict[str, type[Any]] = {
    "record": RecordDriver,
    "nginx": NginxDriver,
    "aws-alb": AwsAlbDriver,
}


def driver_for(name: str) -> TrafficDriver:
    try:
        driver: TrafficDriver = DRIVERS[name]()
    except KeyError:
        raise ValueError(f"Unknown traffic driver {name!r}; known: {', '.join(DRIVERS)}") from None
    return driver
