"""Enterprise size classes of 统计上大中小微型企业划分办法(2017), for industry (工业).

Large, medium and small need *both* lower bounds (employees and operating revenue);
an enterprise that meets only one drops a class. Micro is everything below small.
Revenue is in 万元 (10,000 yuan), the unit of the statistical forms.
"""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _


class SizeClass(models.TextChoices):
    LARGE = "large", _("大型")
    MEDIUM = "medium", _("中型")
    SMALL = "small", _("小型")
    MICRO = "micro", _("微型")


# (class, minimum employees, minimum revenue in 万元), largest first.
INDUSTRY_SIZE_BOUNDS: tuple[tuple[SizeClass, int, Decimal], ...] = (
    (SizeClass.LARGE, 1000, Decimal("40000")),
    (SizeClass.MEDIUM, 300, Decimal("2000")),
    (SizeClass.SMALL, 20, Decimal("300")),
)


def classify_size(*, employees: int, revenue_10k_yuan: Decimal | int | float) -> SizeClass:
    """Return the size class of an industrial enterprise from employees and revenue (万元)."""
    revenue = Decimal(str(revenue_10k_yuan))
    if employees < 0 or revenue < 0:
        raise ValueError("employees and revenue must not be negative")
    for size, min_employees, min_revenue in INDUSTRY_SIZE_BOUNDS:
        if employees >= min_employees and revenue >= min_revenue:
            return size
    return SizeClass.MICRO


def classify_sizes(*, employees, revenue_cents):
    """:func:`classify_size` on whole columns: numpy arrays of employees and of revenue in
    hundredths of 万元 (exact integers); returns an object array of size-class values."""
    import numpy as np

    employees, revenue_cents = np.asarray(employees), np.asarray(revenue_cents)
    if (employees < 0).any() or (revenue_cents < 0).any():
        raise ValueError("employees and revenue must not be negative")
    sizes = np.full(len(employees), str(SizeClass.MICRO), dtype=object)
    # smallest class first, so that a larger class met overwrites it
    for size, min_employees, min_revenue in reversed(INDUSTRY_SIZE_BOUNDS):
        sizes[(employees >= min_employees) & (revenue_cents >= int(min_revenue * 100))] = str(size)
    return sizes
