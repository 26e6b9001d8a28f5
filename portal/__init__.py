"""Portal API: the project package and its cross-cutting pieces."""

from __future__ import annotations

__version__ = "1.0.0"
