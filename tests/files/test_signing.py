from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from files import signing

PATH = "/v1/jobs/job_1/files/file_1/download"


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def verify(p: dict[str, str]) -> tuple[int, str]:
    return signing.verify(
        path=PATH, expires=p.get("expires"), client=p.get("client"), signature=p.get("signature")
    )


def test_a_fresh_signature_verifies() -> None:
    signed = signing.sign(base_url="https://api.example.com", path=PATH, client="pt_abc")
    p = params(signed.url)
    assert verify(p) == (signed.expires, "pt_abc")
    assert signed.url.startswith("https://api.example.com/v1/")


@given(st.text(min_size=1, max_size=30).filter(lambda s: s != "pt_abc"))
def test_any_other_client_fails(client: str) -> None:
    signed = signing.sign(base_url="", path=PATH, client="pt_abc")
    p = params(signed.url)
    p["client"] = client
    with pytest.raises(signing.SignatureError):
        verify(p)


def test_expiry_is_checked_after_the_signature() -> None:
    signed = signing.sign(base_url="", path=PATH, client="c", now=time.time() - 1000)
    with pytest.raises(signing.SignatureError) as caught:
        verify(params(signed.url))
    assert caught.value.expired


@pytest.mark.parametrize(
    "bad",
    [
        {"expires": None},
        {"expires": "-1"},
        {"expires": "9" * 20},
        {"signature": "short"},
        {"client": "x" * 100},
    ],
)
def test_malformed_parameters_fail(bad: dict[str, str | None]) -> None:
    signed = signing.sign(base_url="", path=PATH, client="c")
    p: dict[str, str | None] = {**params(signed.url), **bad}
    with pytest.raises(signing.SignatureError):
        signing.verify(
            path=PATH, expires=p["expires"], client=p["client"], signature=p["signature"]
        )
