"""Reading uploads: an upload handler that stops at the size limit (an HTTP concern, used by
the upload view before the service sees the file)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler

from portal.errors import PayloadTooLargeError
from portal.formats import size_text


class LimitedUploadHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the limit, whether or not the client sent
    a Content-Length, so an oversized body never fills the disk."""

    def __init__(self, limit: int, request: Any = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise PayloadTooLargeError(f"File exceeds the {size_text(self.limit)} limit")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
