from __future__ import annotations

from typing import Any

import pytest

from portal.http.health import HealthView


@pytest.fixture
def health_dispatches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods of the health requests that reached DRF (its view's dispatch)."""
    dispatched: list[str] = []
    dispatch = HealthView.dispatch

    def counting(self: HealthView, request: Any, *args: Any, **kwargs: Any) -> Any:
        dispatched.append(request.method)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(HealthView, "dispatch", counting)
    return dispatched
