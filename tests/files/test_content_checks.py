"""Every accepted type has a check of its first bytes, and the bytes decide what is stored.

Before: HEIC, MP3, MP4 and QuickTime accepted any bytes (an executable was stored and served
as video/mp4).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from files.content_types import ACCEPTED, content_matches, detect_content_type
from files.models import JobFile
from portal.models import Tenant
from tests.factories import PDF_BYTES, JobFactory
from tests.fuzz.hooks import HEADS
from tests.helpers import assert_problem

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
SCRIPT = b"#!/bin/sh\nrm -rf /\n"


@pytest.mark.parametrize("content_type", sorted(HEADS))
def test_each_binary_type_accepts_its_own_heads(content_type: str) -> None:
    for head in HEADS[content_type]:
        assert content_matches(content_type, head + b"\x00" * 32)


@pytest.mark.parametrize(
    "content_type", sorted(t for t, accepted in ACCEPTED.items() if not accepted.textual)
)
@pytest.mark.parametrize("payload", [ELF, PE, b"\x00" * 64, b"hello world"])
def test_no_binary_type_accepts_an_executable_or_noise(content_type: str, payload: bytes) -> None:
    assert not content_matches(content_type, payload)


@given(st.binary(max_size=64))
def test_random_bytes_are_never_taken_for_text_unless_they_are(data: bytes) -> None:
    detected = detect_content_type(data)
    assert detected != "text/plain"
    if detected is not None:
        assert content_matches(detected, data)


def test_heif_mp4_and_quicktime_are_told_apart() -> None:
    heic = HEADS["image/heic"][0]
    mp4 = HEADS["video/mp4"][0]
    mov = HEADS["video/quicktime"][0]
    assert detect_content_type(heic) == "image/heic"
    assert detect_content_type(mp4) == "video/mp4"
    assert detect_content_type(mov) == "video/quicktime"
    assert not content_matches("video/mp4", heic)
    assert not content_matches("image/heic", mp4)


@pytest.mark.django_db
@pytest.mark.parametrize("declared", ["video/mp4", "video/quicktime", "image/heic", "audio/mpeg"])
@pytest.mark.parametrize("payload", [ELF, PE, SCRIPT])
def test_an_executable_is_refused_whatever_it_is_sent_as(
    api: APIClient, tenant: Tenant, declared: str, payload: bytes
) -> None:
    job = JobFactory.create(tenant=tenant)
    upload = SimpleUploadedFile("movie.mp4", payload, content_type=declared)
    response = api.post(f"/v1/jobs/{job.id}/files", {"file": upload}, format="multipart")
    assert_problem(response, 400, "VALIDATION_ERROR")
    assert JobFile.objects.count() == 0


@pytest.mark.django_db
def test_a_file_sent_under_the_wrong_type_is_stored_as_what_it_is(
    api: APIClient, tenant: Tenant
) -> None:
    job = JobFactory.create(tenant=tenant)
    png = HEADS["image/png"][0] + b"\x00" * 32
    upload = SimpleUploadedFile("scan.pdf", png, content_type="application/pdf")
    response = api.post(f"/v1/jobs/{job.id}/files", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert (response.json()["content_type"], response.json()["kind"]) == ("image/png", "image")
    pdf = SimpleUploadedFile("x.png", PDF_BYTES, content_type="image/png")
    response = api.post(f"/v1/jobs/{job.id}/files", {"file": pdf}, format="multipart")
    assert response.json()["content_type"] == "application/pdf"
