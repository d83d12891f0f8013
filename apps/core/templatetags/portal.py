"""Small template filters used across the portal's pages."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a timedelta (for the lock-out message)."""
    if not value:
        return 0
    return int(value.total_seconds() // 60)
