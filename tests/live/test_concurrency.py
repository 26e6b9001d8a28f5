"""Races across gunicorn worker processes, over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live.server import LiveServer

pytestmark = pytest.mark.live


def test_two_concurrent_transitions_from_one_state_cannot_both_win(
    gunicorn_server: LiveServer,
) -> None:
    headers = {"Authorization": f"Bearer {gunicorn_server.token}"}
    base = f"{gunicorn_server.url}/v1"
    contact = requests.post(f"{base}/contacts", json={"name": "Race"}, headers=headers, timeout=10)
    outcomes: list[tuple[int, int]] = []
    for _ in range(5):
        job = requests.post(
            f"{base}/jobs",
            json={"title": "race", "contact_id": contact.json()["id"]},
            headers=headers,
            timeout=10,
        ).json()
        url = f"{base}/jobs/{job['id']}"
        requests.patch(url, json={"status": "in_progress"}, headers=headers, timeout=10)

        def move(target: str, url: str = url) -> int:
            response = requests.patch(url, json={"status": target}, headers=headers, timeout=10)
            return response.status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            done, cancelled = pool.map(move, ["completed", "cancelled"])
        outcomes.append((done, cancelled))
        final = requests.get(url, headers=headers, timeout=10).json()["status"]
        # Exactly one move wins; the other sees a final state and is refused.
        assert sorted((done, cancelled)) == [200, 409], outcomes
        assert final == ("completed" if done == 200 else "cancelled")
