from __future__ import annotations

import pytest

from files.uploads import LimitedUploadHandler
from portal.errors import PayloadTooLargeError


def test_it_passes_chunks_through_until_the_limit() -> None:
    handler = LimitedUploadHandler(10)
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    assert handler.receive_data_chunk(b"67890", 5) == b"67890"
    with pytest.raises(PayloadTooLargeError):
        handler.receive_data_chunk(b"x", 10)
