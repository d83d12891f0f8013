"""Template filters of apps.core.formatting: ``{{ cell.mean|score }}``, ``{{ share|pct }}``,
``{{ change|signed }}``."""

from django import template

from apps.core import formatting

register = template.Library()


@register.filter
def score(value) -> str:
    return formatting.score_text(value)


@register.filter
def pct(value) -> str:
    """A 0–1 share as "68.3%"."""
    return formatting.percent_text(value)


@register.filter
def signed(value) -> str:
    return formatting.signed_text(value)
