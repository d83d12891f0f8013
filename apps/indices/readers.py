"""Reading published index cells: the one place that decides which values a reader sees
(the disclosure path of issue 8).

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

import datetime
from dataclasses import dataclass

import pandas as pd
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from apps.accounts.permissions import is_enterprise_user
from apps.accounts.scoping import jurisdiction_of
from apps.indices.disclosure import REASON_LABELS, public_view
from apps.indices.models import CellKind, IndexCell, IndexRun
from apps.indices.services import index_parameters, published_run  # noqa: F401  (re-exported for readers)

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
        if is_enterprise_user(user):  # its own filings, but no cell is inside its jurisdiction
            return PUBLIC
        return cls(everything=j.everything, covers=j.covers_region_code)


PUBLIC = Reader(everything=False, covers=lambda code: False)


def _region_part(code: str) -> str:
    return code.split("|", 1)[0]


def is_inside(reader: Reader, kind: str, code: str) -> bool:
    """Whether ``reader`` sees the insider view of the cell (kind, code): ministry staff
    every cell, an authority the regional cells inside its jurisdiction, nobody else any."""
    return bool(reader.everything or (kind in REGION_KINDS and reader.covers(_region_part(code))))


def _cell_records(run: IndexRun, kind: str, parent_code: str | None, codes: tuple[str, ...] | None):
    """(full records, public records) of the selected cells of ``run``. A run's cells never
    change except for their stale flags, which move its version; so the pair is built once
    per run version and kept in this process (and in the django cache for the others)."""

    def build():
        qs = IndexCell.objects.filter(run=run, kind=kind)
        if parent_code is not None:
            qs = qs.filter(parent_code=parent_code)
        if codes:
            qs = qs.filter(code__in=codes)
        raw = pd.DataFrame(list(qs.values(*VALUE_FIELDS)), columns=VALUE_FIELDS)
        if raw.empty:
            return [], []
        # complements of the level-distribution rule, recorded by the run's disclosure control
        level_hidden = ((run.audit or {}).get("protection") or {}).get("level_hidden") or ()
        safe = public_view(raw, index_parameters(run), level_hidden).to_dict("records")
        full = raw.astype(object).where(raw.notna(), None).to_dict("records")
        return full, safe

    key = f"cellpair:{run_version(run)}:{kind}:{parent_code}:{','.join(codes) if codes else ''}"
    return public_memo.get(key, build, 3600)


def cells_for(
    reader: Reader, run: IndexRun, kind: str, *, parent_code: str | None = None, codes: tuple[str, ...] | None = None
) -> list[dict]:
    """The cells of ``kind`` (children of ``parent_code``, or the given ``codes``) as
    ``reader`` may see them, each a dict of IndexCell fields plus ``confidential``
    (values shown only inside the jurisdiction) and ``reason_label``."""
    full, safe = _cell_records(run, kind, parent_code, codes)
    out = []
    for pub, row in zip(safe, full, strict=True):
        inside = is_inside(reader, kind, row["code"])
        cell = dict(row) if inside else dict(pub)
        cell["confidential"] = bool(inside and row["suppressed"])
        cell["hidden"] = bool(not inside and row["suppressed"])
        # insiders read the detailed reason; everyone else the one public reason (不公开)
        cell["reason_label"] = REASONS.get(cell["suppression_reason"], "")
        cell["rank_label"] = rank_label(cell)
        cell["run_id"] = run.pk
        out.append(cell)
    return out


def rank_label(cell: dict) -> str | None:
    """The rank as readers see it, with its 95 % rank interval: "第3名（2–6）" (or
    "第3名" without an interval); None for a cell without a rank — hidden from this reader,
    too small or not ranked. The interval comes from the run (apps.indices.aggregation:
    simulated draws of every ranked cell's mean, seeded and recorded with the run)."""
    from django.utils.translation import gettext

    rank = cell.get("rank")
    if rank is None or rank != rank:  # None or NaN
        return None
    low, high = cell.get("rank_low"), cell.get("rank_high")
    if low is None or high is None or low != low or high != high:
        return gettext("第%(rank)s名") % {"rank": int(rank)}
    return gettext("第%(rank)s名（%(low)s–%(high)s）") % {"rank": int(rank), "low": int(low), "high": int(high)}


def cell_for(reader: Reader, run: IndexRun, kind: str, code: str) -> dict | None:
    found = cells_for(reader, run, kind, codes=(code,))
    return found[0] if found else None


# --- the public: pages under /open/ and the open-data API under /api/v1/public/ ----------------
# Everything below reads PUBLIC views of PUBLISHED runs only (apps/insights/public_views.py,
# apps/insights/public_api.py). What is cached is keyed by the run id (and the time the run
# went stale), so publishing another run switches readers at once and nothing is purged.

PUBLIC_CACHE_SECONDS = 24 * 3600
# Order of the cells of kinds that are not ranked.
SIZE_ORDER = ("large", "medium", "small", "micro")
# A name for the "|"-joined codes of region × industry cells.
NAME_JOINER = " · "
# Integer fields come out of the pandas frames as floats (NaN for missing): given back as int.
INT_FIELDS = [f.name for f in IndexCell._meta.concrete_fields if f.get_internal_type().endswith("IntegerField")]


# The columns public readers need of a run and its period/framework (fewer columns: a
# cheaper query on every public request).
_PUBLIC_RUN_FIELDS = (
    "id", "finished_at", "is_published", "published_at", "stale_since", "stale_marked_at", "submissions", "cells", "suppressed_cells",
    "parameters", "audit", "period__code", "period__name", "period__name_en", "period__opens_on", "period__closes_on",
    "framework__code", "framework__version",
)  # fmt: skip


def _public_runs():
    return IndexRun.objects.filter(is_published=True).select_related("period", "framework").only(*_PUBLIC_RUN_FIELDS)


def published_runs() -> list[IndexRun]:
    """Every published run (at most one per period), newest period first, with all their
    fields, period and framework. One query."""
    return list(
        IndexRun.objects.filter(is_published=True).select_related("period", "framework")
        .order_by("-period__opens_on", "-period__code")
    )


class VersionedMemo:
    """A small per-process memory in front of the django cache, for values whose key holds
    the run version (:func:`run_version`): such a value never changes under its key, so a
    process may keep it without asking Redis again. Least recently used entries go first;
    large strings (bulk downloads) are left to the django cache alone."""

    def __init__(self, entries: int = 256, max_len: int = 512 * 1024):
        import threading
        from collections import OrderedDict

        self.entries, self.max_len = entries, max_len
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: str):
        """The value kept in this process under ``key``, or None."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def get(self, key: str, build, timeout: int | None = None):
        """The value under ``key``: from this process, else the django cache, else ``build()``
        (then stored in both)."""
        value = self.peek(key)
        if value is not None:
            return value
        value = cache.get(key)
        if value is None:
            value = build()
            cache.set(key, value, timeout or PUBLIC_CACHE_SECONDS)
        self.keep(key, value)
        return value

    def keep(self, key: str, value) -> None:
        if isinstance(value, (bytes, str)) and len(value) > self.max_len:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


public_memo = VersionedMemo()


def published_runs_brief() -> list[IndexRun]:
    """:func:`published_runs` with only the fields the public pages and API read
    (_PUBLIC_RUN_FIELDS; others load on access). Every call asks the database which runs are
    published (one small query); the run objects themselves are kept per process under
    those runs' versions (a second query when they change)."""
    stamps = [RunStamp(*row) for row in IndexRun.objects.filter(is_published=True).order_by()
              .values_list("pk", "finished_at", "published_at", "stale_marked_at")]  # fmt: skip
    versions = sorted(run_version(stamp) for stamp in stamps)
    key = "public-runs:" + ",".join(versions)
    runs = public_memo.peek(key)
    if runs is None:
        runs = list(_public_runs().order_by("-period__opens_on", "-period__code"))
        if sorted(run_version(r) for r in runs) == versions:  # nothing was published in between
            public_memo.keep(key, runs)
    return runs


def published_run_of(period_code: str) -> IndexRun | None:
    """The published run of the period with this code (public fields), or None. One query."""
    return _public_runs().filter(period__code=period_code).order_by().first()


@dataclass(frozen=True)
class RunStamp:
    """What identifies a published run's public values, without loading the run."""

    pk: int
    finished_at: object
    published_at: object
    stale_marked_at: object


def published_stamp_of(period_code: str) -> RunStamp | None:
    """(id, finished_at, published_at, stale_marked_at) of the published run of a period, or None: the one
    query of a request answered from the cache. One small query, written as SQL: building it
    with the ORM cost more CPU than the rest of a cached open-data API request (issue 13)."""
    from django.db import connection

    from apps.filings.models import Period

    run, period = IndexRun._meta, Period._meta
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.{run.pk.column}, r.finished_at, r.published_at, r.stale_marked_at FROM {run.db_table} r "
            f"JOIN {period.db_table} p ON p.{period.pk.column} = r.period_id "
            "WHERE p.code = %s AND r.is_published LIMIT 1",
            [period_code],
        )
        row = cursor.fetchone()
    return RunStamp(row[0], _aware(row[1]), _aware(row[2]), _aware(row[3])) if row else None


def _aware(value):
    """A datetime read by plain SQL, aware: PostgreSQL gives aware datetimes; SQLite
    (development) gives text or, with the converters Django registers, naive datetimes in
    UTC. A naive one taken for local time put Last-Modified eight hours early in Beijing, so
    that a client asking If-Modified-Since got 304 for hours after a change."""
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        value = parse_datetime(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def run_version(run: IndexRun | RunStamp) -> str:
    """What identifies the values readers see from ``run``: its id, when its cells were
    written (it finished), when it was published and when cells were last flagged stale
    (after late acceptances; each new flag moves it). Part of every cache key and ETag.

    The id alone does not identify a run: SQLite hands out an id again after the row is
    deleted or its transaction rolled back, and a database restored from a backup hands out
    the ids created after that backup again, while the django cache (Redis) and the
    per-process memo still hold values under them. An unpublished run (previewed by ministry
    staff) has no publication time to tell it apart; the time its cells were written does."""
    finished = f"{run.finished_at.timestamp():.6f}" if run.finished_at else "0"
    published = f"{run.published_at.timestamp():.6f}" if run.published_at else "0"
    stale = f"{run.stale_marked_at.timestamp():.6f}" if run.stale_marked_at else "0"
    return f"{run.pk}.{finished}.{published}.{stale}"


def run_changed_at(run: IndexRun | RunStamp):
    """When what readers see of ``run`` last changed (the Last-Modified of its responses):
    its publication, or a later stale flag (the run then reports ``stale_since``). None for
    a run never published nor flagged."""
    return max((t for t in (run.published_at, run.stale_marked_at) if t), default=None)


def cell_names(kind: str, codes: list[str]) -> dict[str, str]:
    """Display names of cell codes in the active language (one query at most)."""
    from django.utils.translation import get_language

    from apps.reference.models import Industry, KeyIndustry, Region
    from apps.reference.size import SizeClass

    if kind == CellKind.NATION:
        return {code: str(_("全国")) for code in codes}
    if kind == CellKind.SIZE:
        labels = dict(SizeClass.choices)
        return {code: str(labels.get(code, code)) for code in codes}
    if kind == CellKind.KEY_INDUSTRY:
        english = (get_language() or "").startswith("en")
        rows = KeyIndustry.objects.filter(code__in=codes).values_list("code", "name", "name_en")
        return {code: (en if english and en else name) for code, name, en in rows}
    if kind == CellKind.DIVISION:
        return dict(Industry.objects.filter(code__in=codes).values_list("code", "name"))
    if kind in (CellKind.PROVINCE_DIVISION, CellKind.PREFECTURE_DIVISION):
        regions = sorted({c.split("|", 1)[0] for c in codes})
        divisions = sorted({c.split("|", 1)[1] for c in codes if "|" in c})
        names = dict(Region.objects.filter(code__in=regions).values_list("code", "name"))
        names.update(Industry.objects.filter(code__in=divisions).values_list("code", "name"))
        out = {}
        for code in codes:
            region, _sep, division = code.partition("|")
            out[code] = NAME_JOINER.join([names.get(region, region), names.get(division, division)])
        return out
    return dict(Region.objects.filter(code__in=codes).values_list("code", "name"))


def _public_order(kind: str, cells: list[dict]) -> list[dict]:
    if kind == CellKind.SIZE:
        position = {code: i for i, code in enumerate(SIZE_ORDER)}
        return sorted(cells, key=lambda c: (position.get(c["code"], len(position)), c["code"]))
    # Ranked first (by rank), then published but unranked cells, then suppressed ones.
    return sorted(cells, key=lambda c: (c["rank"] is None, c["rank"] or 0, bool(c["suppressed"]), c["code"]))


def public_cells(run: IndexRun, kind: str, parent_code: str | None = None) -> list[dict]:
    """The cells of ``kind`` (children of ``parent_code``) of a *published* run as the public
    sees them (:func:`cells_for` with PUBLIC), each with its display ``name``, in ranking
    order (rank, then unranked, then suppressed cells). Cached per run version and language.

    Suppressed cells keep only kind, code, parent_code, suppressed, suppression_reason,
    reason_label, name and run_id; every value is None."""
    from django.utils.translation import get_language

    if not run.is_published:
        raise ValueError("public_cells reads published runs only")
    key = f"public-cells:{run_version(run)}:{get_language()}:{kind}:{parent_code}"
    found = cache.get(key)
    if found is not None:
        return found
    cells = cells_for(PUBLIC, run, kind, parent_code=parent_code)
    names = cell_names(kind, [c["code"] for c in cells]) if cells else {}
    out = []
    for cell in cells:
        cell = {k: v for k, v in cell.items() if k not in ("confidential", "hidden")}
        for field in INT_FIELDS:
            if cell.get(field) is not None:
                cell[field] = int(cell[field])
        cell["reason_label"] = str(cell["reason_label"])
        cell["name"] = names.get(cell["code"], cell["code"])
        out.append(cell)
    out = _public_order(kind, out)
    cache.set(key, out, PUBLIC_CACHE_SECONDS)
    return out


def public_trend(runs: list[IndexRun], kind: str, code: str) -> list[tuple[IndexRun, dict | None]]:
    """One cell (kind, code) in each of ``runs`` (published runs), oldest period first, as
    the public sees it; None where the run has no such cell."""
    out = []
    for run in sorted(runs, key=lambda r: (r.period.opens_on, r.period.code)):
        match = next((c for c in public_cells(run, kind) if c["code"] == code), None)
        out.append((run, match))
    return out


# --- authorities and ministry staff: pages under /insights/ (apps/insights/views.py) ----------
# The same rule as everywhere in this module: cells_for decides what the reader sees; the
# functions below only say which cells to read.


def cells_with_code_prefix(reader: Reader, run: IndexRun, kind: str, prefix: str) -> list[dict]:
    """The cells of ``kind`` whose code starts with ``prefix``, as ``reader`` may see them:
    e.g. the prefecture × division cells "320100|…" of one prefecture (their parent_code is
    the province × division cell, not the prefecture). Two queries when not cached."""
    key = f"cell-codes:{run.pk}:{kind}:{prefix}"
    codes = cache.get(key)
    if codes is None:
        codes = tuple(
            IndexCell.objects.filter(run=run, kind=kind, code__startswith=prefix)
            .order_by("code").values_list("code", flat=True)
        )
        cache.set(key, codes, 3600)
    return cells_for(reader, run, kind, codes=codes) if codes else []


def cells_over_runs(reader: Reader, runs: list[IndexRun], kind: str, codes: tuple[str, ...]) -> list[tuple[IndexRun, dict]]:
    """The cells ``codes`` of ``kind`` in each of ``runs`` (published runs, one per period),
    oldest period first, as ``reader`` may see them: a list of (run, {code: cell}). One
    cells_for per run."""
    out = []
    for run in sorted(runs, key=lambda r: (r.period.opens_on, r.period.code)):
        found = cells_for(reader, run, kind, codes=codes) if codes else []
        out.append((run, {c["code"]: c for c in found}))
    return out
