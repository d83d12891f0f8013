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


def same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOLERANCE
    return a == b


def main() -> int:
    import django

    django.setup()
    from apps.indices.models import IndexCell

    a_id, b_id = int(sys.argv[1]), int(sys.argv[2])
    columns = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]
    a = {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run_id=a_id).values(*columns)}
    b = {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run_id=b_id).values(*columns)}
    differences = [f"only in run {a_id}: {k}" for k in a.keys() - b.keys()]
    differences += [f"only in run {b_id}: {k}" for k in b.keys() - a.keys()]
    for key in sorted(a.keys() & b.keys()):
        for column in columns:
            if not same(a[key][column], b[key][column]):
                differences.append(f"{key} {column}: {a[key][column]!r} != {b[key][column]!r}")
    print(
        f"runs {a_id} and {b_id}: {len(a)} and {len(b)} cells, {len(columns)} columns compared, "
        f"{len(differences)} differences"
    )
    for line in differences[:30]:
        print("  " + line)
    return 1 if differences or not a else 0


if __name__ == "__main__":
    sys.exit(main())
