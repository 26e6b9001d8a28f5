"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.hooks, set by scripts/fuzz.py).

The schema lists the accepted upload types; it cannot say that the bytes must be a file of that
type. A real client sends real files, so the fuzzer's positive cases do too: for every accepted
type, bytes that start the way such a file starts, followed by anything. Negative cases (and
the property tests) still send arbitrary bytes under every type.
"""

from __future__ import annotations

import os
from typing import Any

import django
import schemathesis
from hypothesis import strategies as st
from schemathesis import openapi
from schemathesis.generation.meta import TestPhase

# The accepted types come from the app itself, which needs Django's settings loaded.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.config.settings")
django.setup()

from files.content_types import ACCEPTED, content_matches  # noqa: E402 - after setup

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"
HEADS: dict[str, list[bytes]] = {
    "application/pdf": [b"%PDF-1.7\n"],
    "application/msword": [OLE],
    "application/vnd.ms-excel": [OLE],
    "application/vnd.ms-powerpoint": [OLE],
    "application/rtf": [b"{\\rtf1\\ansi "],
    "application/zip": [ZIP],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [ZIP],
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": [ZIP],
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": [ZIP],
    "application/vnd.oasis.opendocument.text": [ZIP],
    "application/vnd.oasis.opendocument.spreadsheet": [ZIP],
    "image/png": [b"\x89PNG\r\n\x1a\n"],
    "image/jpeg": [b"\xff\xd8\xff\xe0"],
    "image/gif": [b"GIF89a", b"GIF87a"],
    "image/webp": [b"RIFF\x24\x00\x00\x00WEBPVP8 "],
    "audio/wav": [b"RIFF\x24\x00\x00\x00WAVEfmt "],
    "image/heic": [b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"],
    "video/mp4": [b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"],
    "video/quicktime": [b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", b"\x00\x00\x00\x08wide"],
    "audio/mpeg": [b"ID3\x04\x00\x00", b"\xff\xfb\x90\x64"],
}


def file_of(content_type: str) -> st.SearchStrategy[bytes]:
    """Bytes that the API accepts as `content_type`."""
    if ACCEPTED[content_type].textual:
        characters = st.characters(codec="utf-8", blacklist_characters="\x00")
        text = st.text(characters, min_size=1, max_size=200)
        return text.map(lambda value: value.encode("utf-8"))
    heads = st.sampled_from(HEADS[content_type])
    return st.tuples(heads, st.binary(max_size=200)).map(lambda parts: parts[0] + parts[1])


# application/json is also every JSON body's media type: registering a strategy for it would
# replace the fuzzer's schema-driven JSON bodies with arbitrary text.
for _content_type in ACCEPTED:
    if _content_type != "application/json":
        openapi.media_type(_content_type, file_of(_content_type))


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    meta = getattr(case, "meta", None)
    if meta is None or meta.generation.mode != schemathesis.GenerationMode.POSITIVE:
        return
    drop_unmintable_cursor(case)
    if meta.phase.name == TestPhase.STATEFUL and case.method.upper() in ("PATCH", "PUT"):
        drop_references(case)


def drop_unmintable_cursor(case: Any) -> None:
    """`cursor` is a signed token only the API can mint: no generator can produce a valid one
    from the schema, so a request meant to be valid never carries one (in every phase); a
    request meant to be invalid keeps it, and is refused. Refusals of forged, foreign and
    mismatched cursors are tested in tests/portal/test_cursor_pagination.py."""
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}


def drop_references(case: Any) -> None:
    """In the stateful phase, a valid update names no other object by id.

    A body that names an object the tenant does not have (`contact_id` of a random UUID) is
    answered 404 `NOT_FOUND` with the field named, as the contract answers another tenant's
    object anywhere: "exactly as a missing one". The stateful phase's ST302 check reads every
    404 that follows a create as "the created resource is gone", so `PATCH /v1/jobs/{id}` with
    a random `contact_id` looked like a job lost after its POST. The fuzzer cannot know the
    tenant's ids, so in this phase an update leaves its references out (a create keeps them:
    they are required, and the phase feeds them from the objects it created), and ST302 keeps
    checking what it is for: that a created job, contact or file is there. Unknown references
    are still sent in every other phase (and answered 404), and are tested in
    tests/jobs/test_api_write.py."""
    if isinstance(case.body, dict) and any(is_reference(key) for key in case.body):
        case.body = {k: v for k, v in case.body.items() if not is_reference(k)}


def is_reference(field: str) -> bool:
    return field.endswith("_id")


def _self_check() -> None:
    missing = set(ACCEPTED) - set(HEADS) - {t for t, a in ACCEPTED.items() if a.textual}
    assert not missing, missing
    for content_type, heads in HEADS.items():
        assert all(content_matches(content_type, head) for head in heads), content_type


_self_check()
