"""Where the servers `make run` and `make canary` started are listening, so that a command run
from another shell (`manage.py rollout tick`) finds them without the shell exporting `PORT`.

A server started with `LOCAL_LANE=stable` or `LOCAL_LANE=canary` writes the address it bound to
into `var/servers.json` once it is ready (gunicorn's `when_ready`); settings read it when
neither `CANARY_URL`/`STABLE_URL` nor `PORT` say otherwise. Never used in production, where
the lanes are always configured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LANES = ("stable", "canary")


def _path(base_dir: Path) -> Path:
    # LOCAL_SERVERS_FILE: elsewhere (tests use a temporary file).
    return Path(os.environ.get("LOCAL_SERVERS_FILE") or base_dir / "var" / "servers.json")


def recorded(base_dir: Path) -> dict[str, str]:
    try:
        data = json.loads(_path(base_dir).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {lane: str(data[lane]) for lane in LANES if isinstance(data.get(lane), str)}


def record(base_dir: Path, lane: str, url: str) -> None:
    if lane not in LANES:
        raise ValueError(f"LOCAL_LANE must be one of {', '.join(LANES)}, got {lane!r}")
    path = _path(base_dir)
    data = recorded(base_dir)
    data[lane] = url
    if lane == "stable":
        # A new stable server starts a new local setup: an older canary is not part of it.
        data.pop("canary", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
