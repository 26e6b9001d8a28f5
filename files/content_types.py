"""Which uploads are accepted, what kind each is, and a check that the bytes match the type."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from files.models import FileKind

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


@dataclass(frozen=True)
class Accepted:
    kind: str
    # Leading bytes one of which the content must start with; None when no signature exists.
    signatures: tuple[bytes, ...] | None = None
    textual: bool = False


ACCEPTED: dict[str, Accepted] = {
    "application/pdf": Accepted(FileKind.DOCUMENT, (b"%PDF-",)),
    "application/msword": Accepted(FileKind.DOCUMENT, (_OLE,)),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": Accepted(
        FileKind.DOCUMENT, (_ZIP,)
    ),
    "application/vnd.oasis.opendocument.text": Accepted(FileKind.DOCUMENT, (_ZIP,)),
    "application/rtf": Accepted(FileKind.DOCUMENT, (b"{\\rtf",)),
    "application/vnd.ms-excel": Accepted(FileKind.SPREADSHEET, (_OLE,)),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": Accepted(
        FileKind.SPREADSHEET, (_ZIP,)
    ),
    "application/vnd.oasis.opendocument.spreadsheet": Accepted(FileKind.SPREADSHEET, (_ZIP,)),
    "text/csv": Accepted(FileKind.SPREADSHEET, textual=True),
    "application/vnd.ms-powerpoint": Accepted(FileKind.PRESENTATION, (_OLE,)),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": Accepted(
        FileKind.PRESENTATION, (_ZIP,)
    ),
    "text/plain": Accepted(FileKind.TEXT, textual=True),
    "text/markdown": Accepted(FileKind.TEXT, textual=True),
    "application/json": Accepted(FileKind.TEXT, textual=True),
    "image/png": Accepted(FileKind.IMAGE, (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": Accepted(FileKind.IMAGE, (b"\xff\xd8\xff",)),
    "image/gif": Accepted(FileKind.IMAGE, (b"GIF87a", b"GIF89a")),
    "image/webp": Accepted(FileKind.IMAGE, (b"RIFF",)),
    "image/heic": Accepted(FileKind.IMAGE),
    "audio/mpeg": Accepted(FileKind.AUDIO),
    "audio/wav": Accepted(FileKind.AUDIO, (b"RIFF",)),
    "video/mp4": Accepted(FileKind.VIDEO),
    "video/quicktime": Accepted(FileKind.VIDEO),
    "application/zip": Accepted(FileKind.ARCHIVE, (_ZIP,)),
}

_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


def effective_content_type(declared: str | None, filename: str) -> str:
    """The declared type, or a guess from the file name when the client sent a generic one."""
    content_type = (declared or "").split(";", 1)[0].strip().lower()
    if content_type in _GENERIC:
        guessed, _ = mimetypes.guess_type(filename, strict=False)
        content_type = (guessed or "application/octet-stream").lower()
    return content_type


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a file are plausible for its declared type."""
    accepted = ACCEPTED[content_type]
    if accepted.textual:
        return b"\x00" not in head
    if accepted.signatures is None:
        return True
    return any(head.startswith(signature) for signature in accepted.signatures)
