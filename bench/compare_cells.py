"""Compare every IndexCell of two index runs (issue 13: a faster join must not change a cell).

    DATABASE_URL=... .venv/bin/python bench/compare_cells.py RUN_A RUN_B

Every column of IndexCell except the id and the run: text, integers and booleans equal,
floats equal to 1e-12 (NaN/None equal to each other), the JSON columns (level shares,
dimension and indicator means) equal key by key to the same tolerance. Exits 1 and lists
the first differences when a cell differs or is missing on one side."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

TOLERANCE = 1e-12


def same(a, b, tolerance: float = TOLERANCE) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tolerance
    return a == b


def cell_differences(a_id: int, b_id: int, tolerance: float = TOLERANCE):
    """The IndexCells of runs ``a_id`` and ``b_id`` keyed by (kind, code), the columns
    compared, and the differences: (key, column) pairs, column None for a cell only one run
    has. Floats (also inside the JSON columns) may differ by ``tolerance`` (0: exactly)."""
    from apps.indices.models import IndexCell

    columns = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]
    a = {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run_id=a_id).values(*columns)}
    b = {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run_id=b_id).values(*columns)}
    differences = [(k, None) for k in sorted(a.keys() ^ b.keys())]
    for key in sorted(a.keys() & b.keys()):
        differences += [(key, c) for c in columns if not same(a[key][c], b[key][c], tolerance)]
    return a, b, columns, differences


def main() -> int:
    import django

    django.setup()
    a_id, b_id = int(sys.argv[1]), int(sys.argv[2])
    a, b, columns, differences = cell_differences(a_id, b_id)
    print(
        f"runs {a_id} and {b_id}: {len(a)} and {len(b)} cells, {len(columns)} columns compared, "
        f"{len(differences)} differences"
    )
    for key, column in differences[:30]:
        if column is None:
            print(f"  only in run {a_id if key in a else b_id}: {key}")
        else:
            print(f"  {key} {column}: {a[key][column]!r} != {b[key][column]!r}")
    return 1 if differences or not a else 0


if __name__ == "__main__":
    sys.exit(main())
