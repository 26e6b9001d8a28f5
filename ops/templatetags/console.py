"""Number formatting for the console's tables."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 2) -> str:
    """0.99951 -> '99.95%'; None -> '—'."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def times(value: float | None) -> str:
    """A burn rate: 2.5 -> '2.5x'; None -> '—'."""
    return "—" if value is None else f"{value:.3g}x"
