"""Reading published index cells: the one place that decides which values a reader sees.

Every number shown by the dashboards, rankings, exports and the open-data API comes from
here, and only from a *published* run. Values are stored unsuppressed; for each cell:

* a reader whose jurisdiction contains the cell's region (ministry staff: every cell) sees
  the values, marked ``confidential`` when the cell is suppressed for the public;
* everyone else — the public, enterprises, authorities of other regions — sees the
  disclosure-safe view of apps.indices.disclosure.public_view: suppressed cells carry
  only their reason, and order statistics resting on too few filings are hidden.

Industry-only cells (nation, division, key industry, size) are not inside any regional
jurisdiction, so only ministry staff see them unsuppressed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from apps.accounts.scoping import jurisdiction_of
from apps.filings.models import Period
from apps.indices.disclosure import REASON_LABELS, public_view
from apps.indices.models import CellKind, IndexCell, IndexRun
from apps.indices.services import index_parameters

REGION_KINDS = {CellKind.PROVINCE, CellKind.PREFECTURE, CellKind.COUNTY, CellKind.PROVINCE_DIVISION,
                CellKind.PREFECTURE_DIVISION}
VALUE_FIELDS = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]
REASONS = {key: _(label) for key, label in REASON_LABELS.items()}


@dataclass(frozen=True)
class Reader:
    """Who reads: the user's jurisdiction reduced to what cells need."""

    everything: bool
    covers: object  # callable(region_code) -> bool

    @classmethod
    def of(cls, user) -> Reader:
        j = jurisdiction_of(user)
        if getattr(user, "role", None) == "enterprise":
            return PUBLIC
        return cls(everything=j.everything, covers=j.covers_region_code)


PUBLIC = Reader(everything=False, covers=lambda code: False)


def published_run(period: Period) -> IndexRun | None:
    return IndexRun.objects.filter(period=period, is_published=True).select_related("period", "framework").first()


def latest_published_run() -> IndexRun | None:
    return (
        IndexRun.objects.filter(is_published=True).select_related("period", "framework")
        .order_by("-period__opens_on").first()
    )


def _region_part(code: str) -> str:
    return code.split("|", 1)[0]


def _raw_cells(run: IndexRun, kind: str, parent_code: str | None, codes: tuple[str, ...] | None) -> pd.DataFrame:
    key = f"cells:{run.pk}:{kind}:{parent_code}:{','.join(codes) if codes else ''}"
    frame = cache.get(key)
    if frame is None:
        qs = IndexCell.objects.filter(run=run, kind=kind)
        if parent_code is not None:
            qs = qs.filter(parent_code=parent_code)
        if codes:
            qs = qs.filter(code__in=codes)
        frame = pd.DataFrame(list(qs.values(*VALUE_FIELDS)), columns=VALUE_FIELDS)
        cache.set(key, frame, 3600)  # a run's cells never change (except the stale flag)
    return frame


def cells_for(
    reader: Reader, run: IndexRun, kind: str, *, parent_code: str | None = None, codes: tuple[str, ...] | None = None
) -> list[dict]:
    """The cells of ``kind`` (children of ``parent_code``, or the given ``codes``) as
    ``reader`` may see them, each a dict of IndexCell fields plus ``confidential``
    (values shown only inside the jurisdiction) and ``reason_label``."""
    raw = _raw_cells(run, kind, parent_code, codes)
    if raw.empty:
        return []
    safe = public_view(raw, index_parameters(run)).to_dict("records")
    full = raw.astype(object).where(raw.notna(), None).to_dict("records")
    out = []
    for pub, row in zip(safe, full, strict=True):
        inside = reader.everything or (kind in REGION_KINDS and reader.covers(_region_part(row["code"])))
        cell = dict(row) if inside else dict(pub)
        cell["confidential"] = bool(inside and row["suppressed"])
        cell["hidden"] = bool(not inside and row["suppressed"])
        cell["reason_label"] = REASONS.get(row["suppression_reason"], "")
        cell["run_id"] = run.pk
        out.append(cell)
    return out


def cell_for(reader: Reader, run: IndexRun, kind: str, code: str) -> dict | None:
    found = cells_for(reader, run, kind, codes=(code,))
    return found[0] if found else None
