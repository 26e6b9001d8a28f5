"""Which uploads are accepted, what kind each is, and a check that the bytes match the type."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass

from files.models import FileKind

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


# ISO base media files (MP4, QuickTime, HEIF) open with a box: size, `ftyp`, major brand,
# minor version, then compatible brands.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def _ftyp_brands(head: bytes) -> set[bytes]:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size if 16 <= size <= 4096 else 16)
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    return {head[8:12], *compatible}


def is_heif(head: bytes) -> bool:
    return bool(_ftyp_brands(head) & HEIF_BRANDS)


def is_mp4(head: bytes) -> bool:
    brands = _ftyp_brands(head)
    return bool(brands) and not brands <= HEIF_BRANDS and head[8:12] != b"qt  "


def is_quicktime(head: bytes) -> bool:
    return head[8:12] == b"qt  " if head[4:8] == b"ftyp" else head[4:8] in QUICKTIME_ATOMS


def _riff(head: bytes, form: bytes) -> bool:
    return head.startswith(b"RIFF") and head[8:12] == form


def is_mp3(head: bytes) -> bool:
    # An ID3v2 tag, or an MPEG audio frame sync (11 set bits) with a valid layer.
    if head.startswith(b"ID3"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


@dataclass(frozen=True)
class Accepted:
    kind: str
    # Leading bytes one of which the content must start with.
    signatures: tuple[bytes, ...] | None = None
    textual: bool = False
    # For formats without a fixed prefix: a check of the first bytes.
    sniff: Callable[[bytes], bool] | None = None


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
    "image/webp": Accepted(FileKind.IMAGE, sniff=lambda head: _riff(head, b"WEBP")),
    "image/heic": Accepted(FileKind.IMAGE, sniff=is_heif),
    "audio/mpeg": Accepted(FileKind.AUDIO, sniff=is_mp3),
    "audio/wav": Accepted(FileKind.AUDIO, sniff=lambda head: _riff(head, b"WAVE")),
    "video/mp4": Accepted(FileKind.VIDEO, sniff=is_mp4),
    "video/quicktime": Accepted(FileKind.VIDEO, sniff=is_quicktime),
    "application/zip": Accepted(FileKind.ARCHIVE, (_ZIP,)),
}

_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


def guess_content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return (guessed or "").lower()


def effective_content_type(declared: str | None, *filenames: str) -> str:
    """The declared type, or a guess from the first file name that tells one when the client
    sent a generic type (the uploaded file's own name first, then the display name)."""
    content_type = (declared or "").split(";", 1)[0].strip().lower()
    if content_type in _GENERIC:
        for filename in filenames:
            guessed, _ = mimetypes.guess_type(filename, strict=False)
            if guessed:
                return guessed.lower()
        return "application/octet-stream"
    return content_type


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a file are plausible for its declared type."""
    accepted = ACCEPTED[content_type]
    if accepted.textual:
        return b"\x00" not in head
    if accepted.sniff is not None:
        return accepted.sniff(head)
    if accepted.signatures is None:
        return True
    return any(head.startswith(signature) for signature in accepted.signatures)


# When the declared type does not match the bytes, the bytes decide, in this order: specific
# signatures first, containers shared by several types last (a ZIP is a zip, an OLE file a
# Word document). Text is never detected: a file is text only when its sender said so.
DETECTION_ORDER = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/wav",
    "image/heic",
    "video/quicktime",
    "video/mp4",
    "application/rtf",
    "audio/mpeg",
    "application/zip",
    "application/msword",
)


def detect_content_type(head: bytes, *candidates: str) -> str | None:
    """The type the bytes show: the first accepted candidate they match (the declared type,
    then types guessed from names), else the first binary type in DETECTION_ORDER they match."""
    for content_type in (*candidates, *DETECTION_ORDER):
        if content_type in ACCEPTED and content_matches(content_type, head):
            return content_type
    return None
