from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client


def run() -> str:
    out = StringIO()
    call_command("demo_operator", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_it_prints_a_login_that_opens_the_console(db: None) -> None:
    line = run()
    username, password = line.removeprefix("Demo staff login (/ops/): ").split(" / ")
    client = Client()
    assert client.login(username=username, password=password)
    assert client.get("/ops/").status_code == 200


def test_each_run_resets_the_password(db: None) -> None:
    first, second = run(), run()
    assert first != second
    assert User.objects.filter(username="operator").count() == 1


def test_production_refuses_it(db: None, settings: Any) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="createsuperuser"):
        run()
    assert not User.objects.exists()
