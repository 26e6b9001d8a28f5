"""Release inputs are checked in one place (the service), for the CLI and the console, and
commands are built as argument lists: no value can add, remove or quote an argument.

Before: an unbalanced quote in an image was a 500 that left a pending rollout; an image with a
space could pass extra arguments to `kubectl`.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from ops.models import Release, Rollout
from ops.rollouts.services import RolloutError, command_argv, rollout_create
from ops.rollouts.validators import IMAGE_RE

pytestmark = pytest.mark.django_db

BAD_IMAGES = [
    "ghcr.io/acme/api:'v2",
    "api:v2 --server=https://evil",
    "-oops",
    "a b",
    "A:1",
    "api:v2\nkubectl delete ns prod",
    "",
    "api:" + "x" * 200,
]
BAD_VERSIONS = ["", "bad version!", "-1", "1.0;rm", "é", "x" * 65]


@pytest.mark.parametrize("image", [i for i in BAD_IMAGES if i])
def test_a_bad_image_is_refused_and_nothing_is_created(image: str) -> None:
    with pytest.raises(RolloutError, match="not an image reference"):
        rollout_create(version="2.0.0", image=image, actor="alice")
    assert not Rollout.objects.exists()
    assert not Release.objects.exists()


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_a_bad_version_is_refused_and_nothing_is_created(version: str) -> None:
    with pytest.raises(RolloutError, match="not a release version"):
        rollout_create(version=version, actor="alice")
    assert not Rollout.objects.exists()


def test_the_cli_refuses_bad_input_with_a_non_zero_exit() -> None:
    with pytest.raises(CommandError):
        call_command("rollout", "start", "2.0.0", "--image", "x:'v1", stdout=StringIO())
    assert not Rollout.objects.exists()


@pytest.mark.parametrize(
    "image",
    [
        "portal-api:v1.0.0",
        "ghcr.io/acme/portal-api:v1.4.0",
        "localhost:5000/a/b:c",
        "registry.example.com/team/app@sha256:" + "0" * 64,
    ],
)
def test_real_image_references_are_accepted(image: str) -> None:
    assert rollout_create(version="2.0.0", image=image, actor="alice").release.image == image


@given(st.text(max_size=40))
def test_a_value_is_always_exactly_one_argument(value: str) -> None:
    argv = command_argv(
        "kubectl set image deployment/x portal-api={image} -n prod", {"image": value}
    )
    assert argv == ["kubectl", "set", "image", "deployment/x", f"portal-api={value}", "-n", "prod"]


@given(st.text(max_size=60))
def test_nothing_the_image_pattern_accepts_can_look_like_an_option(value: str) -> None:
    if IMAGE_RE.fullmatch(value):
        assert not value.startswith("-")
        assert not any(ch.isspace() or ch in "'\"\\;`$" for ch in value)
