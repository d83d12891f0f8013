"""One rounding for every number the portal shows: pages, charts, exports and the API's
display fields. Half up on the number as written (68.25 → 68.3), the rule of Django's
``floatformat`` and of a clerk with a calculator, so 273/400 reads 68.3 % everywhere — not
68.2 % where binary floating point (f"{68.25:.1f}") would round down.

Templates use the filters of ``{% load formatting %}``: ``score``, ``pct`` (a 0–1 share as
a percentage), ``signed``.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DASH = "—"
MINUS = "−"  # U+2212, as typeset; the file formats keep numbers numeric


def is_number(v) -> bool:
    if v is None or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def rounded(v, places: int = 1) -> float | None:
    """``v`` rounded half up to ``places`` decimals (None for missing or not finite)."""
    if not is_number(v):
        return None
    try:
        exact = Decimal(repr(float(v)))
    except InvalidOperation:
        return None
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def percent(share, places: int = 1) -> float | None:
    """A share 0–1 as a percentage (273/400 → 68.3)."""
    return rounded(100 * float(share), places) if is_number(share) else None


def ratio_percent(numerator, denominator, places: int = 1) -> float | None:
    """``numerator`` / ``denominator`` as a percentage (None when the denominator is 0)."""
    if not denominator:
        return None
    return rounded(100 * numerator / denominator, places)


def number_text(v, places: int = 1) -> str:
    r = rounded(v, places)
    return DASH if r is None else f"{r:.{places}f}"


def score_text(v) -> str:
    """A score 0–100 with one decimal ("—" when missing)."""
    return number_text(v, 1)


def percent_text(share, places: int = 1) -> str:
    p = percent(share, places)
    return DASH if p is None else f"{p:.{places}f}%"


def signed_text(v, places: int = 1) -> str:
    """A change: "+2.9", "−0.6", "±0.0"."""
    r = rounded(v, places)
    if r is None:
        return DASH
    if r == 0:
        return "±" + f"{0:.{places}f}"
    return f"{r:+.{places}f}".replace("-", MINUS)
