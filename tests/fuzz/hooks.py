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

# The accepted types come from the app itself, which needs Django's settings loaded.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
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
    """`cursor` is a signed token only the API can mint: no generator can produce a valid one
    from the schema, so a request meant to be valid never carries one (in every phase); a
    request meant to be invalid keeps it, and is refused. Refusals of forged, foreign and
    mismatched cursors are tested in tests/portal/test_cursor_pagination.py."""
    if not case.query or "cursor" not in case.query:
        return
    meta = getattr(case, "meta", None)
    if meta is None or meta.generation.mode != schemathesis.GenerationMode.POSITIVE:
        return
    case.query = {k: v for k, v in case.query.items() if k != "cursor"}


def _self_check() -> None:
    missing = set(ACCEPTED) - set(HEADS) - {t for t, a in ACCEPTED.items() if a.textual}
    assert not missing, missing
    for content_type, heads in HEADS.items():
        assert all(content_matches(content_type, head) for head in heads), content_type


_self_check()
