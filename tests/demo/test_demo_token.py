"""`make run`'s demo token survives a restart: the same token until it is revoked."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from portal.models import ApiToken
from portal.tenancy.services import token_revoke
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def demo_token(path: Path) -> str:
    out = StringIO()
    call_command("demo_token", "--file", str(path), stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_a_restart_prints_the_same_usable_token(tmp_path: Path) -> None:
    TenantFactory.create(slug="acme")
    kept = tmp_path / "demo-token"
    first = demo_token(kept)
    assert demo_token(kept) == first
    assert ApiToken.objects.filter(name="demo_token", revoked_at__isnull=True).count() == 1
    assert oct(kept.stat().st_mode & 0o777) == "0o600"


def test_a_revoked_token_is_replaced(tmp_path: Path) -> None:
    TenantFactory.create(slug="acme")
    kept = tmp_path / "demo-token"
    first = demo_token(kept)
    token_revoke(token=ApiToken.objects.get(name="demo_token"))
    second = demo_token(kept)
    assert second != first
    assert kept.read_text().strip() == second
