"""The steps of an index run: plan, score chunks, join and aggregate.

Each step is a plain function over ids (called by the Celery tasks in tasks.py, or in
one process by ``compute_indices --inline`` and the benchmark). Scoring and aggregation
are the pure functions of apps.frameworks.scoring and apps.indices.aggregation; this
module only loads and saves, in bulk.

Idempotence: a chunk deletes its own rows before writing them, and its completion is
recorded on its RunChunk row under a lock, so a redelivered chunk never double-counts and
the join runs once.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
from contextlib import contextmanager

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from scipy import sparse

from apps.core import bulk
from apps.core.bulk import copy_rows, fetch_rows
from apps.enterprises.models import Enterprise
from apps.filings.models import Submission, SubmissionStatus
from apps.filings.packing import compiled_for
from apps.frameworks import scoring
from apps.reference.models import Industry, KeyIndustry

from . import aggregation
from .models import IndexCell, IndexRun, RegisterSnapshot, RunChunk, RunScore, RunStatus

log = logging.getLogger(__name__)


def _chunk_count() -> int:
    return getattr(settings, "INDEX_RUN_CHUNKS", 8)


def _recomputable_writes() -> None:
    """In the current transaction, do not wait for the WAL flush at commit (PostgreSQL's
    ``synchronous_commit = off`` for this transaction only). What a run writes — a chunk's
    scores and its done mark, the run's cells — can always be computed again: if the
    database crashed within the next fraction of a second, the lost commit leaves the chunk
    not done (scores and mark go together) and the reaper re-runs it, or the run still
    running and its join runs again. Nothing is ever half-written; only waiting is saved."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _touch(run_id: int, **fields) -> None:
    IndexRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now(), **fields)


def _time(run: IndexRun, step: str, seconds: float) -> None:
    # timings accumulate across chunks (seconds of work, not wall time)
    with transaction.atomic():
        locked = IndexRun.objects.select_for_update().get(pk=run.pk)
        locked.timings[step] = round(locked.timings.get(step, 0) + seconds, 3)
        locked.save(update_fields=["timings"])


def run_fail(*, run_id: int, reason: str) -> None:
    """Mark a run failed with the reason (never left running)."""
    IndexRun.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error_log=reason[-20000:], finished_at=timezone.now()
    )


def plan_chunks(counts, k: int) -> list[tuple[list[str], int]]:
    """Split the period's filings into at most ``k`` chunks of about equal size.

    ``counts`` are (province, prefecture, county, filings) of the accepted filings. A
    province holding more than 1/k of the filings is split into its prefectures, and a
    prefecture that still does into its counties, so that one large province (广东 holds
    about 14 % of manufacturing) does not make one chunk that every other worker waits
    for. The pieces are then packed largest first into the lightest chunk. A chunk is a
    list of codes (see :func:`_chunk_condition`): "440000" a whole province,
    "440000/440100" a prefecture, "440000/440100/440103" a county."""
    total = sum(n for *_, n in counts)
    limit = total / max(k, 1)
    tree: dict[str, dict[str, dict[str, int]]] = {}
    for province, prefecture, county, n in counts:
        tree.setdefault(province or "", {}).setdefault(prefecture or "", {})
        tree[province or ""][prefecture or ""][county or ""] = tree[province or ""][prefecture or ""].get(county or "", 0) + n
    units: list[tuple[str, int]] = []
    for province, prefectures in tree.items():
        size = sum(sum(c.values()) for c in prefectures.values())
        if size <= limit or k <= 1:
            units.append((province, size))
            continue
        for prefecture, counties in prefectures.items():
            size = sum(counties.values())
            if size <= limit:
                units.append((f"{province}/{prefecture}", size))
            else:  # a county is the smallest piece: it keeps its indicator sums whole
                units.extend((f"{province}/{prefecture}/{county}", n) for county, n in counties.items())
    units.sort(key=lambda u: (-u[1], u[0]))
    k = max(1, min(k, len(units)))
    bins: list[list[str]] = [[] for _ in range(k)]
    sizes = [0] * k
    for code, n in units:  # largest first into the lightest bin
        i = sizes.index(min(sizes))
        bins[i].append(code)
        sizes[i] += n
    return [(b, s) for b, s in zip(bins, sizes, strict=True) if b]


def _chunk_source(codes: list[str], period_id: int, columns: list[str]) -> tuple[str, list]:
    """SQL of a chunk's accepted filings (``columns`` of the submission table) and its
    parameters: one range of the region index ``submission_accepted_chunk`` per piece of
    the chunk — a whole province, a (province, prefecture) or a (province, prefecture,
    county) of a split province — glued with UNION ALL. Each branch is an index-only scan of
    just that region's filings; one query with the pieces OR-ed together was read as a scan
    of the whole period (a bitmap or the heap in arrival order), once per chunk."""
    table = Submission._meta.db_table
    select = ", ".join(columns)
    branches, params = [], []
    for code in codes:
        parts = code.split("/")
        where = " AND ".join(
            f"{column} = %s" for column in ("province_code", "prefecture_code", "county_code")[: len(parts)]
        )
        branches.append(f"SELECT {select} FROM {table} WHERE period_id = %s AND status = %s AND {where}")
        params.extend([period_id, SubmissionStatus.ACCEPTED, *parts])
    if not branches:
        return f"SELECT {select} FROM {table} WHERE 1 = 0", []
    return " UNION ALL ".join(branches), params


def plan_run(*, run_id: int) -> list[int]:
    """Start a run: split the period's accepted filings into chunks of about equal size
    (:func:`plan_chunks`). Returns the chunk ids to score (none left: already planned)."""
    started = time.perf_counter()
    run = IndexRun.objects.select_related("period").get(pk=run_id)
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        # the register (and key-industry tags) of the period, before any chunk scores
        period_snapshot(run.period)
    with transaction.atomic():
        run = IndexRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return []
        if run.chunks.exists():  # planned before (a redelivered message): resume
            return list(run.chunks.filter(done=False).values_list("pk", flat=True))
        counts = (
            Submission.objects.filter(period_id=run.period_id, status=SubmissionStatus.ACCEPTED)
            .values_list("province_code", "prefecture_code", "county_code")
            .annotate(n=Count("id"))
            .order_by()
        )
        planned = plan_chunks(list(counts), _chunk_count())
        # RunChunk.province_codes holds the chunk's codes (pieces of split provinces too)
        chunks = RunChunk.objects.bulk_create(
            [RunChunk(run=run, index=i, province_codes=b, expected_rows=n) for i, (b, n) in enumerate(planned)]
        )
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.chunks_total = len(chunks)
        run.submissions = sum(n for _, n in planned)
        run.heartbeat_at = timezone.now()
        run.progress = 1
        run.timings["plan"] = round(time.perf_counter() - started, 3)
        run.save()
        return [c.pk for c in chunks]


def select_arrays(sql: str, fields, params=(), order_by: str | None = None) -> dict[str, np.ndarray]:
    """Run ``SELECT <fields> <sql>`` and return one numpy array per field, without a
    Python loop over rows on PostgreSQL (binary COPY, :func:`apps.core.bulk.copy_out_arrays`).

    ``fields`` are (name, SQL expression, spec) with spec "bigint", "integer", "smallint",
    "double precision", ("text", width) or ("float32le", count); text comes back as an object
    array of str, float32le as an (n, count) float64 matrix. Elsewhere (SQLite for
    ``make run``) the rows are fetched and converted the slow way."""
    if connection.vendor == "postgresql":
        select = ", ".join(
            bulk.fixed_text(expr, spec[1]) if isinstance(spec, tuple) and spec[0] == "text" else expr
            for _, expr, spec in fields
        )
        raw = bulk.copy_out_arrays(f"SELECT {select} {sql}", [(name, spec) for name, _, spec in fields], params,
                                   order_by=order_by)
        out = {}
        for name, _, spec in fields:
            if isinstance(spec, tuple) and spec[0] == "text":
                out[name] = bulk.decode_codes(raw.pop(name))
            elif isinstance(spec, tuple):
                out[name] = raw.pop(name).astype(float)
            else:
                out[name] = raw.pop(name)
        return out
    columns: list[list] = [[] for _ in fields]
    order = f" ORDER BY {dict((n, e) for n, e, _ in fields)[order_by]}" if order_by else ""
    for rows in fetch_rows(f"SELECT {', '.join(expr for _, expr, _ in fields)} {sql}{order}", params):
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    out = {}
    for (name, _, spec), values in zip(fields, columns, strict=True):
        if isinstance(spec, tuple) and spec[0] == "text":
            out[name] = np.array(["" if v is None else str(v) for v in values], dtype=object)
        elif isinstance(spec, tuple):
            width = spec[1]
            blobs = [bytes(v) if v is not None else b"" for v in values]
            if any(len(b) != 4 * width for b in blobs):
                raise ValueError(f"{name} is not {width} float32 values in every row")
            out[name] = (np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), width).astype(float)
                         if blobs else np.empty((0, width)))
        elif spec in ("double precision", "real"):
            out[name] = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        else:
            out[name] = np.array(values, dtype=np.int64)
    return out


def _code_width(model, field: str) -> int:
    return model._meta.get_field(field).max_length


def _load_vectors(run: IndexRun, codes: list[str], n_indicators: int) -> dict[str, np.ndarray]:
    """Accepted filings of the run's period in the chunk ``codes``: ids, the answer matrix
    (n × indicators), the region codes, division, size class and revenue each filing
    recorded when it was submitted (the codes the cells are built from, see
    :func:`recorded_frame`; handed to the join, :func:`pack_join_columns`), the industry
    the filing recorded (today's for a filing without one). One binary COPY of the
    chunk's ranges of the region index ``submission_accepted_chunk`` (an index-only scan:
    it holds every column read here); the key-industry tags come from the period's
    register snapshot, see :func:`score_chunk`."""
    source, params = _chunk_source(
        codes, run.period_id, ["id", "enterprise_id", "province_code", "prefecture_code", "county_code", "division_code",
                               "industry_code", "size_class", "revenue", "answer_vector"])
    sql = f"FROM ({source}) s"
    revenue = "coalesce(s.revenue::float8, 'NaN'::float8)" if connection.vendor == "postgresql" else "s.revenue"
    fields = [
        ("id", "s.id", "bigint"), ("enterprise_id", "s.enterprise_id", "bigint"),
        # the filing's recorded codes, size class and revenue: handed to the join (join_columns)
        *((name, f"s.{name}_code", ("text", _code_width(Submission, f"{name}_code")))
          for name in ("province", "prefecture", "county", "division")),
        ("size_class", "s.size_class", ("text", _code_width(Submission, "size_class"))),
        ("revenue", revenue, "double precision"),
        # the industry the filing recorded (issue 8); today's for a filing without one, below
        ("industry", "s.industry_code", ("text", _code_width(Industry, "code"))),
        ("answers", "s.answer_vector", ("float32le", n_indicators)),
    ]
    try:
        data = select_arrays(sql, fields, params, order_by="id")
    except ValueError:
        with connection.cursor() as cursor:  # say which filing lacks its packed answers
            cursor.execute(
                f"SELECT count(*), min(s.id) {sql} WHERE "
                f"(s.answer_vector IS NULL OR length(s.answer_vector) <> %s)", [*params, 4 * n_indicators])
            missing, first = cursor.fetchone()
        if missing:
            raise ValueError(f"{missing} accepted filings have no packed answers of this framework (first id {first})") from None
        raise
    return _confirmed_filings(data)


def _confirmed_filings(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The chunk's filings of enterprises their authority has confirmed (issue 9: a
    self-registration counts once confirmed), with today's industry for a filing that
    recorded none. Two small look-ups instead of a join of the chunk's range with the
    enterprise table (which PostgreSQL answered by hashing all 200,000 enterprises once per
    chunk): the enterprises still awaiting confirmation — few, by the index on the flag —
    and the industry of the filings without one (none since issue 8 records it)."""
    enterprises = Enterprise.objects.filter(awaiting_confirmation=True)
    awaiting = np.fromiter(enterprises.values_list("id", flat=True), dtype=np.int64)
    if len(awaiting):
        keep = ~np.isin(data["enterprise_id"], awaiting)
        if not keep.all():
            data = {name: values[keep] for name, values in data.items()}
    lacking = np.flatnonzero(data["industry"] == "")
    if len(lacking):
        today = dict(Enterprise.objects.filter(pk__in=data["enterprise_id"][lacking].tolist())
                     .values_list("id", "industry_id"))
        industry = data["industry"].copy()
        industry[lacking] = [today.get(e) or "" for e in data["enterprise_id"][lacking].tolist()]
        data["industry"] = industry
    return data


def mask_sets(masks: np.ndarray, key_codes) -> tuple[np.ndarray, np.ndarray]:
    """An integer id of each bit mask of key-industry tags, and per id the sorted tuple of
    tags it stands for (``key_codes`` sorted: bit i is key_codes[i])."""
    uniques, inverse = np.unique(np.asarray(masks, dtype=np.int64), return_inverse=True)
    sets = np.empty(len(uniques), dtype=object)
    for j, m in enumerate(uniques.tolist()):
        sets[j] = tuple(str(c) for b, c in enumerate(key_codes) if (m >> b) & 1)
    return inverse.reshape(-1), sets


def tag_sets(owners: np.ndarray, tag_owner: np.ndarray, tag_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Key-industry tags of each of ``owners`` (unique enterprise ids), vectorised: returns
    an integer id of each owner's set of tags and, per id, the sorted tuple of tags (an
    enterprise usually carries none or one of the six key industries, so a few ids)."""
    owners = np.asarray(owners, dtype=np.int64)
    pos = pd.Index(owners).get_indexer(np.asarray(tag_owner, dtype=np.int64))
    keep = pos >= 0
    ids, uniques = pd.factorize(np.asarray(tag_codes, dtype=object)[keep], sort=True)
    if len(uniques) > 62:
        raise ValueError("more than 62 key industries: tag sets no longer fit a bit mask")
    mask = np.zeros(len(owners), dtype=np.int64)
    np.bitwise_or.at(mask, pos[keep], np.left_shift(np.int64(1), ids.astype(np.int64)))
    return mask_sets(mask, [str(u) for u in uniques])


# --- indicator means: partial sums per chunk, added up in the join ---------------------------------
# A chunk stores, per county and per division of its filings, the sum and the number of
# the applicable indicator scores (NaN = not applicable counts as absent). The join adds
# the chunks up, rolls counties up to prefectures, provinces and the nation, and divides:
# the filings are read and scored once.

INDICATOR_MEAN_KINDS = ("nation", "province", "prefecture", "county", "division")
INDICATOR_DECIMALS = 2


def _group_sums(keys, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (sorted), sums (k × m float64) and counts (k × m int32) of the non-NaN
    entries of ``S`` (n × m) per value of ``keys`` (n codes). Vectorised: the k × n sparse
    matrix of which filing has which code times S (and times S's non-NaN flags) — no sort
    of the n × m scores (2.7 × faster than sorting and np.add.reduceat, issue 13)."""
    m = S.shape[1]
    if not len(keys):
        return np.array([], dtype="U1"), np.zeros((0, m)), np.zeros((0, m), dtype=np.int32)
    ids, uniques = pd.factorize(pd.Series(keys, dtype=object).fillna("").astype(str), sort=True)
    present = ~np.isnan(S)
    member = sparse.csr_matrix((np.ones(len(ids)), (ids, np.arange(len(ids)))), shape=(len(uniques), len(ids)))
    sums = np.asarray(member @ np.where(present, S, 0.0), dtype=np.float64)
    counts = np.asarray(member @ present.astype(np.float64)).astype(np.int32)
    return np.asarray(uniques, dtype=str), sums, counts


def pack_indicator_sums(indicator_codes, S: np.ndarray, counties, divisions) -> bytes:
    """The chunk's partial sums as one .npz (see RunChunk.indicator_sums). Not compressed
    here: the database stores the column with lz4 (migration indices.0013), and zlib cost
    the chunk more than the sums themselves."""
    c_codes, c_sums, c_counts = _group_sums(counties, S)
    d_codes, d_sums, d_counts = _group_sums(divisions, S)
    buffer = io.BytesIO()
    np.savez(
        buffer, indicators=np.asarray(list(indicator_codes), dtype=str),
        county_codes=c_codes, county_sums=c_sums, county_counts=c_counts,
        division_codes=d_codes, division_sums=d_sums, division_counts=d_counts,
    )
    return buffer.getvalue()


def _add_up(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], m: int) -> pd.DataFrame:
    """Partial (codes, sums, counts) added up per code: a frame indexed by code with
    columns ("s", j) and ("n", j)."""
    codes = np.concatenate([p[0].astype(object) for p in parts]) if parts else np.array([], dtype=object)
    sums = np.vstack([p[1] for p in parts]) if parts else np.zeros((0, m))
    counts = np.vstack([p[2] for p in parts]).astype(np.int64) if parts else np.zeros((0, m), np.int64)
    frame = pd.DataFrame(np.hstack([sums, counts.astype(float)]), index=pd.Index(codes, name="code"))
    return frame.groupby(level=0, sort=True).sum()


def _means(frame: pd.DataFrame, indicator_codes: list[str], min_count: int) -> dict[str, str]:
    """{code: JSON text of {indicator: mean rounded}} of summed rows; null where fewer than
    ``min_count`` filings answered the indicator — a module indicator answered by one firm
    in a large cell would otherwise be that firm's score (the cell's own n does not protect
    it)."""
    m = len(indicator_codes)
    values = frame.to_numpy(float)
    sums, counts = values[:, :m], values[:, m:]
    enough = counts >= max(min_count, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.round(np.where(enough, sums / np.where(enough, counts, 1), np.nan), INDICATOR_DECIMALS)
    return dict(zip(map(str, frame.index.tolist()), json_objects(indicator_codes, means), strict=True))


# json.dumps(..., ensure_ascii=False) builds a new encoder per call; this one is built once
_JSON = json.JSONEncoder(ensure_ascii=False)


def json_objects(keys, matrix: np.ndarray) -> list[str]:
    """Each row of ``matrix`` as the JSON text json.dumps gives of {key: value} (NaN as
    null): each distinct value (by its bits) is formatted once, and each row is one
    %-format of a template that holds the keys."""
    matrix = np.ascontiguousarray(matrix, dtype=float)
    if not len(keys):
        return ["{}"] * matrix.shape[0]
    template = "{" + ", ".join(_JSON.encode(str(k)).replace("%", "%%") + ": %s" for k in keys) + "}"
    return [template % row for row in map(tuple, _number_texts(matrix).tolist())]


def _number_texts(matrix: np.ndarray) -> np.ndarray:
    """The JSON text of each number of ``matrix`` (null for NaN), as an object array of the
    same shape: each distinct value (by its bits) formatted once."""
    present = ~np.isnan(matrix)
    bits, inverse = np.unique(matrix[present].view(np.int64), return_inverse=True)
    distinct = bits.view(float)
    # json writes a finite float as float.__repr__ (and inf as Infinity)
    encode = float.__repr__ if np.isfinite(distinct).all() else _JSON.encode
    texts = np.array([*map(encode, distinct.tolist()), "null"], dtype=object)
    index = np.full(matrix.shape, len(bits), dtype=np.int64)
    index[present] = inverse.reshape(-1)
    return texts[index]


def indicator_means(
    run: IndexRun, registry: pd.DataFrame, indicator_codes: list[str], min_count: int = 1
) -> dict[tuple[str, str], str]:
    """{(kind, code): JSON text of {indicator: mean}} for the nation, provinces,
    prefectures, counties and divisions, from the chunks' partial sums (the text is what
    the cell stores: no dictionary per cell is built). Counties are rolled up along the
    registry's region codes (those of the cells); the nation is the sum of its counties."""
    m = len(indicator_codes)
    counties, divisions = [], []
    for (blob,) in RunChunk.objects.filter(run=run).order_by("index").values_list("indicator_sums"):
        if blob is None:
            continue
        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
            if list(data["indicators"]) != list(indicator_codes):
                raise ValueError("a chunk's indicator sums do not match the framework's indicators")
            counties.append((data["county_codes"], data["county_sums"], data["county_counts"]))
            divisions.append((data["division_codes"], data["division_sums"], data["division_counts"]))
    by_county = _add_up(counties, m)
    by_division = _add_up(divisions, m)
    regions = registry[["county", "prefecture", "province"]].astype(str).drop_duplicates("county").set_index("county")
    known = by_county.index.isin(regions.index)
    if not known.all():
        raise ValueError(f"filings in counties without registered enterprises: {list(by_county.index[~known][:5])}")
    out: dict[tuple[str, str], str] = {}
    for kind, frame in (
        ("county", by_county),
        ("prefecture", by_county.groupby(regions["prefecture"].reindex(by_county.index).to_numpy(), sort=True).sum()),
        ("province", by_county.groupby(regions["province"].reindex(by_county.index).to_numpy(), sort=True).sum()),
        ("nation", by_county.groupby(np.full(len(by_county), aggregation.NATION_CODE), sort=True).sum()),
        ("division", by_division),
    ):
        for code, means in _means(frame, indicator_codes, min_count).items():
            out[(kind, code)] = means
    return out


def as_of_period_industries(industries, divisions) -> np.ndarray:
    """The industry code that decides each filing's industry modules, as of its period
    (issue 8). ``industries``: the class the filing recorded at submission
    (Submission.industry_code), or the enterprise's industry today for a filing that has
    none; the latter is used only while it lies inside the division the filing recorded —
    the enterprise changed industry since — otherwise the recorded division (a module of a
    finer industry group than the division cannot be told from it and does not apply)."""
    today = pd.Series(np.asarray(industries, dtype=object)).fillna("").astype(str)
    recorded = pd.Series(np.asarray(divisions, dtype=object)).fillna("").astype(str)
    inside = [t.startswith(d) for t, d in zip(today.tolist(), recorded.tolist(), strict=True)]
    return np.where(np.asarray(inside, dtype=bool) | (recorded == "").to_numpy(), today.to_numpy(object),
                    recorded.to_numpy(object))


def _module_membership(compiled, industries: np.ndarray, tag_ids: np.ndarray, tag_tuples: np.ndarray) -> np.ndarray | None:
    """Which industry modules apply to each filing's enterprise, from its industry code and
    key-industry tags: computed once per distinct (industry, tags) pair — a few hundred for
    a million filings — and spread back by index."""
    if not compiled.n_modules:
        return None
    industry_ids, industry_codes = pd.factorize(np.asarray(industries, dtype=object), sort=True)
    pairs, inverse = np.unique(industry_ids.astype(np.int64) * max(len(tag_tuples), 1) + tag_ids, return_inverse=True)
    distinct = scoring.module_membership(
        compiled, [str(industry_codes[p // max(len(tag_tuples), 1)]) for p in pairs.tolist()],
        [tag_tuples[p % max(len(tag_tuples), 1)] for p in pairs.tolist()],
    )
    return distinct[inverse.reshape(-1)]


def _tuple_ids(tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An integer id per tuple of tags and, per id, the tuple (as :func:`mask_sets`)."""
    keys = np.array([",".join(t) for t in tags], dtype=object)
    ids, uniques = pd.factorize(keys, sort=True)
    sets = np.empty(len(uniques), dtype=object)
    for j, key in enumerate(uniques.tolist()):
        sets[j] = tuple(key.split(",")) if key else ()
    return ids.astype(np.int64), sets


def chunk_attempt_started(*, chunk_id: int) -> None:
    """Count an attempt at a chunk (the reaper gives up after a few)."""
    now = timezone.now()
    RunChunk.objects.filter(pk=chunk_id, done=False).update(attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)


def heartbeat_interval(parameters: dict) -> float:
    """Seconds between two heartbeats of a working chunk: a quarter of the stall limit
    (INDEX_RUN_STALL_SECONDS), or the run's drill_heartbeat_seconds."""
    if "drill_heartbeat_seconds" in parameters:
        return max(float(parameters["drill_heartbeat_seconds"]), 0.05)
    return max(getattr(settings, "INDEX_RUN_STALL_SECONDS", 120) / 4, 0.05)


@contextmanager
def chunk_heartbeat(*, chunk_id: int, run_id: int, interval: float):
    """While the block runs, a thread of this worker stamps the chunk's and the run's
    heartbeat every ``interval`` seconds: a chunk that works longer than the stall limit is
    seen alive; one whose worker died stops reporting and is re-run by the reaper."""
    import threading

    from django.db import connection

    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(interval):
                now = timezone.now()
                RunChunk.objects.filter(pk=chunk_id, done=False).update(heartbeat_at=now)
                IndexRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=now)
        except Exception:  # a lost heartbeat only makes the reaper re-run the chunk
            log.exception("heartbeat of chunk %s stopped", chunk_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"chunk-heartbeat-{chunk_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def score_chunk(*, chunk_id: int) -> bool:
    """Score one chunk and record it; returns True when this call completed the last chunk
    (the caller then enqueues the join)."""
    chunk = RunChunk.objects.select_related("run__framework").get(pk=chunk_id)
    run = chunk.run
    if chunk.done or run.status != RunStatus.RUNNING:
        return False
    started = time.perf_counter()
    compiled = compiled_for(run.framework)
    with transaction.atomic():
        _recomputable_writes()
        filings = _load_vectors(run, chunk.province_codes, compiled.n_indicators)
        sub_ids, ent_ids = filings["id"], filings["enterprise_id"]
        # modules by key-industry tags as of the period (the snapshot), like the cells
        register = snapshot_frame(period_snapshot(run.period))
        tags = period_key_industries(register, ent_ids)
        tag_ids, tag_tuples = _tuple_ids(tags)
        loaded = time.perf_counter()
        industry = as_of_period_industries(filings["industry"], filings["division"])
        membership = _module_membership(compiled, industry, tag_ids, tag_tuples)
        result = scoring.score_matrix(compiled, filings.pop("answers"), membership)
        partial_sums = pack_indicator_sums(compiled.indicator_codes, result.indicator_scores,
                                           filings["county"], filings["division"])
        scored = time.perf_counter()
        join_columns = pack_join_columns(
            _chunk_join_columns(run, filings, register, tag_ids, tag_tuples, membership, result))
        handed = time.perf_counter()
        # The chunk's row is locked before any score is written: a second delivery of the
        # same chunk (acks_late redelivers a message whose worker went quiet) waits here
        # until the first commits, then sees it done and rolls back without writing —
        # written first, its COPY would wait on the other's rows and fail the run on the
        # unique (run, enterprise) index.
        locked = RunChunk.objects.select_for_update().get(pk=chunk_id)
        if locked.done:
            transaction.set_rollback(True)
            return False
        RunScore.objects.filter(run=run, chunk=chunk.index).delete()  # an earlier, unfinished attempt
        write_scores(run.pk, chunk.index, sub_ids, ent_ids, result.composite, result.level, result.dimension_scores)
        written = time.perf_counter()
        locked.done, locked.finished_at, locked.indicator_sums = True, timezone.now(), partial_sums
        locked.join_columns = join_columns  # with the scores: a redelivered chunk rewrites both
        locked.save(update_fields=["done", "finished_at", "indicator_sums", "join_columns"])
        run_locked = IndexRun.objects.select_for_update().get(pk=run.pk)
        run_locked.chunks_done = run_locked.chunks.filter(done=True).count()
        run_locked.progress = 5 + int(80 * run_locked.chunks_done / max(run_locked.chunks_total, 1))
        run_locked.heartbeat_at = timezone.now()
        for step, seconds in (("load", loaded - started), ("score", scored - loaded), ("join_columns", handed - scored),
                              ("write_scores", written - handed)):
            run_locked.timings[step] = round(run_locked.timings.get(step, 0) + seconds, 3)
        run_locked.save(update_fields=["chunks_done", "progress", "heartbeat_at", "timings"])
        return run_locked.chunks_done == run_locked.chunks_total


# --- the chunk's hand-over to the join ---------------------------------------------------------------
# A chunk has read, for its filings, everything the join needs besides the scores: the codes
# each filing recorded, its revenue, its key-industry tags as of the period and its 未统计
# answers (and the filings' ids, for the join's revision check). It packs them with its
# scores (one .npz on its RunChunk, written in the same transaction as its RunScore rows), so
# that the join reads one blob per chunk instead of reading the period's filings, scores and
# marked answers again row by row.

JOIN_CODE_COLUMNS = ("province", "prefecture", "county", "division", "size_class")


def _chunk_join_columns(run: IndexRun, filings: dict, register: pd.DataFrame, tag_ids: np.ndarray,
                        tag_tuples: np.ndarray, membership, result) -> dict[str, np.ndarray]:
    """The join's columns of a chunk's filings (see :func:`join_frame_from_rows` for what
    they stand for): the scores, the recorded codes, revenue (the register's where the
    filing recorded none), the key-industry tags and the 未统计 counts."""
    from .services import marked_answers, not_measured_counts

    ent_ids = np.asarray(filings["enterprise_id"], dtype=np.int64)
    revenue = np.asarray(filings["revenue"], dtype=float).copy()
    known = pd.Index(register["enterprise_id"].to_numpy(np.int64)).get_indexer(ent_ids)
    missing = np.isnan(revenue) & (known >= 0)
    if missing.any():  # filings written without revenue (seeded data): the register's
        revenue[missing] = register["revenue"].to_numpy(float)[known[missing]]
    marked = marked_answers(np.asarray(filings["id"], dtype=np.int64))
    not_measured, kpi_asked = not_measured_counts(run.framework, ent_ids, membership, marked)
    columns = {
        "submission": np.asarray(filings["id"], dtype=np.int64),  # for the join's revision check
        "enterprise_id": ent_ids, "composite": np.asarray(result.composite, dtype=float),
        "level": np.asarray(result.level, dtype=np.int64),
        # as written to RunScore (float32), so that the join sees what a read of the scores gives
        "dimension_scores": np.asarray(result.dimension_scores, dtype="<f4"),  # (n, dimensions)
        "revenue": revenue, "not_measured": not_measured, "kpi_asked": kpi_asked,
        "key_industries": (tag_ids, tag_tuples),  # each filing's id of its set of tags, and the sets
    }
    for name in JOIN_CODE_COLUMNS:
        columns[name] = filings[name]
    return columns


def pack_join_columns(columns: dict[str, np.ndarray]) -> bytes:
    """A chunk's join columns as one uncompressed .npz: numbers as they are, each code
    column and the key-industry tags as integer codes and their distinct values (the tags
    given as (id of each filing's set, the sets), as _tuple_ids gives them)."""
    arrays = {}
    for name, values in columns.items():
        if name == "key_industries":
            ids, sets = values
            arrays[f"{name}__codes"] = np.asarray(ids, dtype=np.int32)
            arrays[f"{name}__values"] = np.array([",".join(t) for t in sets], dtype=str)
        elif name in JOIN_CODE_COLUMNS:
            codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
            arrays[f"{name}__codes"] = codes.astype(np.int32)
            arrays[f"{name}__values"] = np.asarray(uniques, dtype=str)
        else:
            arrays[name] = np.asarray(values)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_join_columns(blob: bytes) -> dict[str, np.ndarray]:
    """The columns of :func:`pack_join_columns` (codes as object arrays of str, tags as
    tuples)."""
    out = {}
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
        for key in data.files:
            if key.endswith("__codes"):
                name = key[: -len("__codes")]
                values = data[f"{name}__values"].astype(object)
                if name == "key_industries":
                    tags = np.empty(len(values), dtype=object)
                    for j, v in enumerate(values.tolist()):
                        tags[j] = tuple(v.split(",")) if v else ()
                    values = tags
                out[name] = values[data[key]] if len(values) else np.array([], dtype=object)
            elif not key.endswith("__values"):
                out[key] = data[key]
    return out


def _hand_overs(run: IndexRun) -> list[bytes] | None:
    """The run's chunks' hand-over blobs, in chunk order; None when a chunk has none (a
    chunk scored by an earlier version) or the run has no chunk."""
    blobs = list(RunChunk.objects.filter(run=run).order_by("index").values_list("join_columns", flat=True))
    return None if not blobs or any(b is None for b in blobs) else blobs


def join_frame_from_chunks(run: IndexRun, dimension_codes: list[str],
                           blobs: list[bytes] | None = None) -> pd.DataFrame | None:
    """The join's frame (as :func:`join_frame_from_rows`) from the chunks' hand-overs
    (``blobs`` when the caller has read them), in the same order (by enterprise id); None
    when a chunk has none or the run has no chunk."""
    blobs = _hand_overs(run) if blobs is None else blobs
    if blobs is None:
        return None
    parts = [unpack_join_columns(b) for b in blobs]
    ids = np.concatenate([p["enterprise_id"] for p in parts]).astype(np.int64)
    order = np.argsort(ids, kind="stable")

    def column(name):
        return np.concatenate([p[name] for p in parts])[order]

    frame = pd.DataFrame({"enterprise_id": ids[order], "composite": column("composite").astype(float),
                          "level": column("level").astype(np.int64)})
    matrix = np.concatenate([p["dimension_scores"] for p in parts])[order]
    if matrix.shape[1] != len(dimension_codes):
        return None
    matrix = matrix.astype(float)
    for k, code in enumerate(dimension_codes):
        frame[code] = matrix[:, k]
    for name in (*JOIN_CODE_COLUMNS, "revenue", "key_industries", "not_measured", "kpi_asked"):
        frame[name] = column(name)
    if all("submission" in p for p in parts):  # (a hand-over written before it carried them: none)
        frame["submission"] = column("submission").astype(np.int64)
    return frame


def run_filings_of_frame(frame: pd.DataFrame, submissions: pd.Series) -> pd.DataFrame:
    """The run's filings as :func:`apps.indices.services.run_filings` reads them from the
    database (submission, enterprise_id, composite, the recorded codes, key-industry tags;
    by submission), from the join's frame and the submission ids the chunks handed over."""
    columns = ["enterprise_id", "composite", *JOIN_CODE_COLUMNS, "key_industries"]
    out = frame[columns].assign(submission=submissions.to_numpy(np.int64))
    return out[["submission", *columns]].sort_values("submission", kind="stable").reset_index(drop=True)


def handed_filings(run: IndexRun) -> pd.DataFrame | None:
    """``run``'s filings as :func:`run_filings_of_frame` gives them, from its chunks'
    hand-overs (kept on the run's RunChunk rows); None when a chunk handed over no filing ids
    (a run scored before they were handed over)."""
    blobs = _hand_overs(run)
    if blobs is None or not all(_carries_filing_ids(b) for b in blobs):
        return None  # (seen from each .npz's directory: nothing is unpacked in vain)
    dimension_codes = list(run.framework.dimensions.order_by("order", "code").values_list("code", flat=True))
    frame = join_frame_from_chunks(run, dimension_codes, blobs)
    return None if frame is None else run_filings_of_frame(frame, frame["submission"])


def _carries_filing_ids(blob: bytes) -> bool:
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
        return "submission" in data.files


def join_frame_from_rows(run: IndexRun, dimension_codes: list[str], registry: pd.DataFrame) -> pd.DataFrame:
    """The join's frame read row-wise from the database: the run's scores (one row per
    scored filing, by enterprise id), with each filing's recorded codes, revenue and
    key-industry tags (:func:`recorded_frame`) and its 未统计 answers
    (services.not_measured_frame). What the chunks hand over gives the same frame
    (:func:`join_frame_from_chunks`); this is the way of a run whose chunks did not."""
    from .services import not_measured_frame  # each filing's 未统计 answers (issue 8)

    frame = _score_frame(run, dimension_codes).merge(recorded_frame(run.period, registry), on="enterprise_id", how="left")
    frame = frame.merge(not_measured_frame(run.period, run.framework, registry), on="enterprise_id", how="left")
    frame["submission"] = frame.pop("submission")  # last, as the hand-over gives it
    return frame


# --- join -----------------------------------------------------------------------------------------


def _score_spec(name: str, dimensions: int = 0):
    if name == "dimension_scores":
        return ("float32le", dimensions)
    return RunScore._meta.get_field(name).db_type(connection)


def write_scores(run_id: int, chunk: int, submission_ids, enterprise_ids, composite, level, dimension_scores) -> None:
    """Write a chunk's scores as RunScore rows: one binary COPY from the arrays on
    PostgreSQL (no per-row Python), row by row elsewhere."""
    dims = np.asarray(dimension_scores, dtype="<f4").reshape(len(submission_ids), -1)
    if connection.vendor == "postgresql":
        names = ["run_id", "chunk", "submission_id", "enterprise_id", "composite", "level", "dimension_scores"]
        bulk.copy_in_arrays(
            RunScore._meta.db_table, [(n, _score_spec(n, dims.shape[1])) for n in names],
            {"run_id": run_id, "chunk": chunk, "submission_id": submission_ids, "enterprise_id": enterprise_ids,
             "composite": np.asarray(composite, dtype=float), "level": np.asarray(level), "dimension_scores": dims},
        )
        return
    copy_rows(
        RunScore._meta.db_table,
        ["run_id", "chunk", "submission_id", "enterprise_id", "composite", "level", "dimension_scores"],
        (
            (run_id, chunk, int(s), int(e), float(c), int(lv), dims[i].tobytes())
            for i, (s, e, c, lv) in enumerate(zip(submission_ids, enterprise_ids, composite, level, strict=True))
        ),
    )


def read_scores(run_id: int, dimensions: int | None = None, submissions: bool = False) -> dict[str, np.ndarray]:
    """A run's scores as arrays (enterprise_id, composite, level and, with ``dimensions``,
    the n × dimensions matrix; with ``submissions`` the filings' ids as "submission"), in a
    fixed order: by enterprise id (the unique index on run, enterprise_id). Rows are
    inserted in the order the chunks finish, and sums in another order differ in the last
    bits."""
    fields = [("enterprise_id", "enterprise_id", "bigint"), ("composite", "composite", "double precision"),
              ("level", "level", "bigint" if connection.vendor != "postgresql" else "smallint")]
    if dimensions is not None:
        fields.append(("dimension_scores", "dimension_scores", ("float32le", dimensions)))
    if submissions:
        fields.append(("submission", "submission_id", "bigint"))
    return select_arrays(f"FROM {RunScore._meta.db_table} WHERE run_id = %s", fields, [run_id], order_by="enterprise_id")


def _score_frame(run: IndexRun, dimension_codes: list[str]) -> pd.DataFrame:
    scores = read_scores(run.pk, len(dimension_codes), submissions=True)
    frame = pd.DataFrame({"enterprise_id": scores["enterprise_id"].astype(np.int64),
                          "composite": scores["composite"].astype(float), "level": scores["level"].astype(np.int64)})
    matrix = scores["dimension_scores"]
    for k, code in enumerate(dimension_codes):
        frame[code] = matrix[:, k]
    frame["submission"] = scores["submission"].astype(np.int64)
    return frame


REGISTER_COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "revenue"]


def _key_industry_pairs() -> dict[str, np.ndarray]:
    through = Enterprise.key_industries.through
    return select_arrays(f"FROM {through._meta.db_table}", [
        ("enterprise_id", "enterprise_id", "bigint"),
        ("key", "keyindustry_id", ("text", _code_width(KeyIndustry, "code")))])


def _frame_columns(model, enterprise_column: str) -> list[tuple]:
    """The register's columns (enterprise, region codes, division, size class, revenue) as
    select_arrays reads them from ``model``: the enterprise table (today's register) and the
    submission table (the codes each filing recorded) carry the same fields."""
    def text(field):
        return ("text", _code_width(model, field))

    revenue = "coalesce(revenue::float8, 'NaN'::float8)" if connection.vendor == "postgresql" else "revenue"
    return [("enterprise_id", enterprise_column, "bigint")] + [
        (name, f"{name}_code", text(f"{name}_code")) for name in ("province", "prefecture", "county", "division")
    ] + [("size_class", "size_class", text("size_class")), ("revenue", revenue, "double precision")]


def _registry_frame() -> pd.DataFrame:
    # Every confirmed enterprise registered today (issue 9: self-registrations count once their
    # authority confirms them), also those in a since-abolished region code: what a period's
    # register snapshot is taken from. Read column-wise (binary COPY on PostgreSQL).
    data = select_arrays(
        f"FROM {Enterprise._meta.db_table} WHERE NOT awaiting_confirmation", _frame_columns(Enterprise, "id"),
        order_by="enterprise_id",
    )
    frame = pd.DataFrame({c: data[c] for c in REGISTER_COLUMNS})
    frame["enterprise_id"] = frame["enterprise_id"].astype(np.int64)
    frame["revenue"] = frame["revenue"].astype(float)
    pairs = _key_industry_pairs()
    ids, sets = tag_sets(frame["enterprise_id"].to_numpy(), pairs["enterprise_id"], pairs["key"])
    frame["key_industries"] = sets[ids] if len(frame) else np.array([], dtype=object)
    return frame


def _pack_register(frame: pd.DataFrame) -> bytes:
    """The register's columns as one .npz: the code columns and the key-industry tags as
    integer codes and their distinct values (a few hundred KB for 300,000 enterprises)."""
    buffer = io.BytesIO()
    arrays = {}
    text = {c: frame[c].astype(str) for c in REGISTER_COLUMNS[1:6]}
    text["key_industries"] = pd.Series([",".join(t) for t in frame["key_industries"]], dtype=object)
    for c, values in text.items():
        codes, uniques = pd.factorize(values, sort=False)
        arrays[f"{c}__codes"] = codes.astype(np.int32)
        arrays[f"{c}__values"] = np.asarray(uniques, dtype=str)
    np.savez_compressed(
        buffer, enterprise_id=frame["enterprise_id"].to_numpy(np.int64), revenue=frame["revenue"].to_numpy(float),
        **arrays,
    )
    return buffer.getvalue()


def _unpack_register(blob: bytes) -> pd.DataFrame:
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
        frame = pd.DataFrame({"enterprise_id": data["enterprise_id"]})
        for c in REGISTER_COLUMNS[1:6]:
            frame[c] = data[f"{c}__values"].astype(object)[data[f"{c}__codes"]]
        frame["revenue"] = data["revenue"]
        # one tuple per distinct set of tags, spread by its code (not a look-up per enterprise)
        sets = data["key_industries__values"].tolist()
        tags = np.empty(len(sets), dtype=object)
        for j, t in enumerate(sets):
            tags[j] = tuple(t.split(",")) if t else ()
        frame["key_industries"] = tags[data["key_industries__codes"]]
    return frame[[*REGISTER_COLUMNS, "key_industries"]]


def period_snapshot(period) -> RegisterSnapshot:
    """The register snapshot of ``period``, taken now from the current register if the
    period has none yet (its closing, see tasks.index_snapshot_closed_periods, or its
    first run). Safe when two runs of the period race: one snapshot wins."""
    from django.db import IntegrityError

    # the packed register is read when a process first unpacks it (snapshot_frame), not by
    # every chunk that finds it unpacked already
    snapshot = RegisterSnapshot.objects.filter(period=period).defer("data").first()
    if snapshot is not None:
        return snapshot
    frame = _registry_frame()
    try:
        with transaction.atomic():
            snapshot = RegisterSnapshot.objects.create(
                period=period, enterprises=len(frame), digest=register_edition(frame)["sha256"],
                data=_pack_register(frame),
            )
    except IntegrityError:  # another run of the period took it meanwhile
        return RegisterSnapshot.objects.get(period=period)
    _UNPACKED[snapshot.pk] = (snapshot.digest, frame)
    return snapshot


# Unpacked snapshots of this process (a snapshot never changes once taken): every chunk of a
# run reads the tags of its filings from it, so each worker unpacks it once, not per chunk.
_UNPACKED: dict[int, tuple[str, pd.DataFrame]] = {}


def snapshot_frame(snapshot: RegisterSnapshot) -> pd.DataFrame:
    """The register columns of ``snapshot`` (REGISTER_COLUMNS and key_industries)."""
    cached = _UNPACKED.get(snapshot.pk)
    if cached is not None and cached[0] == snapshot.digest:
        return cached[1]
    frame = _unpack_register(snapshot.data)
    if len(_UNPACKED) > 4:
        _UNPACKED.clear()
    _UNPACKED[snapshot.pk] = (snapshot.digest, frame)
    return frame


def register_frame(period) -> tuple[pd.DataFrame, RegisterSnapshot]:
    """The register of ``period``: its snapshot (:func:`period_snapshot`). Enterprises that
    move, register or are retagged later do not change the period's ``registered`` counts,
    coverage or key-industry cells."""
    snapshot = period_snapshot(period)
    return snapshot_frame(snapshot), snapshot


def period_key_industries(register: pd.DataFrame, enterprise_ids) -> np.ndarray:
    """Each enterprise's key-industry tags (a sorted tuple) as of the period whose
    ``register`` (snapshot) is given: the snapshot's tags; for an enterprise registered
    after the snapshot was taken (it filed late in the window), its tags today — the one
    record of them there is (docs/METHOD.md 四, "按期口径"). Used by the cells, the modules
    that apply to a filing (score_chunk) and the revision check (services.changed_members),
    so the three agree."""
    enterprise_ids = np.asarray(enterprise_ids, dtype=np.int64)
    known = pd.Index(register["enterprise_id"].to_numpy(np.int64)).get_indexer(enterprise_ids)
    tags = np.empty(len(enterprise_ids), dtype=object)
    tags[known >= 0] = register["key_industries"].to_numpy(object)[known[known >= 0]]
    unknown = np.flatnonzero(known < 0)
    if len(unknown):
        through = Enterprise.key_industries.through
        late_ids = enterprise_ids[unknown]
        pairs = list(through.objects.filter(enterprise_id__in=late_ids.tolist()).values_list("enterprise_id", "keyindustry_id"))
        ids, sets = tag_sets(late_ids, np.array([e for e, _ in pairs], dtype=np.int64), np.array([k for _, k in pairs], dtype=object))
        tags[unknown] = sets[ids]
    return tags


def recorded_frame(period, register: pd.DataFrame) -> pd.DataFrame:
    """Each accepted filing's codes as recorded when it was submitted (region, division,
    size class, revenue), with its key-industry tags as of the period
    (:func:`period_key_industries`). One row per enterprise."""
    data = select_arrays(
        f"FROM {Submission._meta.db_table} WHERE period_id = %s AND status = %s",
        _frame_columns(Submission, "enterprise_id"), [period.pk, SubmissionStatus.ACCEPTED],
        order_by="enterprise_id",
    )
    frame = pd.DataFrame({c: data[c] for c in REGISTER_COLUMNS})
    frame["enterprise_id"] = frame["enterprise_id"].astype(np.int64)
    frame["revenue"] = frame["revenue"].astype(float)
    known = pd.Index(register["enterprise_id"].to_numpy()).get_indexer(frame["enterprise_id"].to_numpy())
    missing = frame["revenue"].isna().to_numpy() & (known >= 0)
    if missing.any():  # filings written without revenue (seeded data): the register's
        frame.loc[missing, "revenue"] = register["revenue"].to_numpy(float)[known[missing]]
    tags = period_key_industries(register, frame["enterprise_id"].to_numpy())
    frame["key_industries"] = tags
    return frame


def previous_published_run(run: IndexRun) -> IndexRun | None:
    """The published run of the period before this run's period, if any."""
    from apps.filings.models import Period

    earlier = Period.objects.filter(opens_on__lt=run.period.opens_on).order_by("-opens_on").first()
    if earlier is None:
        return None
    return IndexRun.objects.filter(period=earlier, is_published=True).first()


def finalize_run(*, run_id: int) -> IndexRun:
    """Join: aggregate every cell from the run's scores, apply disclosure control, write
    the cells and mark the run succeeded. Safe to call twice."""
    run = IndexRun.objects.select_related("period", "framework").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return run
    started = time.perf_counter()
    dimension_codes = list(run.framework.dimensions.order_by("order", "code").values_list("code", flat=True))
    registry, snapshot = register_frame(run.period)
    frame = join_frame_from_chunks(run, dimension_codes)
    if frame is None:
        frame = join_frame_from_rows(run, dimension_codes, registry)
    submissions = frame.pop("submission") if "submission" in frame else None
    previous = previous_published_run(run)
    previous_scores = previous_cells = None
    if previous is not None:
        earlier = read_scores(previous.pk)
        previous_scores = pd.DataFrame({"enterprise_id": earlier["enterprise_id"].astype(np.int64),
                                        "composite": earlier["composite"].astype(float)})
        previous_cells = pd.DataFrame(list(IndexCell.objects.filter(run=previous).values("kind", "code", "n", "mean", "rank", "suppressed", "suppression_reason")))
    from .services import base_of_run, code_version, index_parameters, library_versions

    params = index_parameters(run)
    base_period, base_run, base_mean = base_of_run(run)
    if params.base_national_mean is None and base_mean is not None:
        params = aggregation.IndexParameters.from_dict({**params.to_dict(), "base_national_mean": base_mean})
    provenance = {
        "code_version": code_version(), "libraries": library_versions(),
        "framework": f"{run.framework.code} {run.framework.version}", "framework_id": run.framework_id,
        # the snapshot's digest is register_edition() of the frame it was taken from
        "register": {"enterprises": snapshot.enterprises, "sha256": snapshot.digest, "snapshot": snapshot.pk,
                     "taken_at": snapshot.taken_at.isoformat()}, "base_period": base_period,
        "base_run": base_run.pk if base_run else None, "previous_run": previous.pk if previous else None,
    }
    loaded = time.perf_counter()
    cells = aggregation.compute_cells(frame, registry, params, dimension_codes, previous_scores, previous_cells)
    protection = cells.attrs.get("protection", {})  # the interval rule ran inside compute_cells
    complements = cells.attrs.get("complements", {})  # how the complements were chosen
    cells.attrs = {}  # pandas deep-copies attrs into every column taken from the frame
    aggregated = time.perf_counter()
    indicator_codes = list(compiled_for(run.framework).indicator_codes)
    # an indicator mean resting on fewer filings than a publishable cell is not kept
    regions = pd.concat([frame[["county", "prefecture", "province"]], registry[["county", "prefecture", "province"]]])
    means = indicator_means(run, regions, indicator_codes, min_count=params.min_cell_size)
    cells["indicator_means"] = [  # JSON text (see indicator_means)
        means.get((kind, code), "{}") if kind in INDICATOR_MEAN_KINDS else "{}"
        for kind, code in zip(cells["kind"].tolist(), cells["code"].tolist(), strict=True)
    ]
    indicators_done = time.perf_counter()
    columns = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]
    with transaction.atomic():
        _recomputable_writes()
        locked = IndexRun.objects.select_for_update().get(pk=run_id)
        if locked.status != RunStatus.RUNNING:
            return locked
        IndexCell.objects.filter(run=locked).delete()
        fields = [c for c in columns if c in cells.columns]
        records = cells[fields].astype(object).where(cells[fields].notna(), None)
        for name, empty in (("level_shares", []), ("dimension_means", {})):  # (indicator means are JSON text)
            if name in records:
                records[name] = [_JSON.encode(v if v is not None else empty) for v in records[name]]
        # Row by row: psycopg's C write_row sends each row while the server parses the last
        # (one column-wise payload was slower here: the server waited for all of it).
        # COPY bypasses model defaults: a new cell is not stale.
        copy_rows(IndexCell._meta.db_table, ["run_id", "stale", *fields],
                  ((locked.pk, False, *row) for row in records.itertuples(index=False, name=None)))
        written = time.perf_counter()
        locked.cells = len(cells)
        locked.suppressed_cells = int(cells["suppressed"].sum()) if len(cells) else 0
        locked.parameters = {**locked.parameters, **params.to_dict()}
        locked.provenance = {**locked.provenance, **provenance}
        locked.previous_run, locked.base_run = previous, base_run
        locked.audit = {**locked.audit, "protection": protection, "complements": complements}
        locked.timings.update(
            {"load_join": round(loaded - started, 3), "aggregate": round(aggregated - loaded, 3),
             "indicator_means": round(indicators_done - aggregated, 3), "write_cells": round(written - indicators_done, 3)}
        )
        locked.status, locked.progress, locked.finished_at = RunStatus.SUCCEEDED, 100, timezone.now()
        locked.timings["wall"] = round((locked.finished_at - locked.started_at).total_seconds(), 3)
        locked.save()
    from .services import content_digest, revision_record

    checked = time.perf_counter()
    # the run's own digest now, while its scores are fresh: a later check against it (a
    # page, a publish request) then only reads it (services.earlier_publications)
    content_digest(locked)
    # the run's filings are in memory here: the check does not read them back (a first read
    # of rows just written is the slow one)
    filings = None if submissions is None else run_filings_of_frame(frame, submissions)
    locked.audit = {**locked.audit, "revision": revision_record(locked, filings=filings)}
    # after the run succeeded (not in "wall"): the revision rule's check against the published run
    locked.timings["revision_check"] = round(time.perf_counter() - checked, 3)
    locked.save(update_fields=["audit", "timings"])
    return locked


def register_edition(registry: pd.DataFrame) -> dict:
    """What identifies the register the cells were built from: its number of enterprises
    and a digest of its rows (codes, size, revenue, key industries)."""
    import hashlib

    digest = hashlib.sha256(pd.util.hash_pandas_object(
        registry.drop(columns=["key_industries"]).astype(str), index=False).to_numpy().tobytes())
    digest.update("|".join(",".join(t) for t in registry["key_industries"]).encode())
    return {"enterprises": len(registry), "sha256": digest.hexdigest()[:16]}


def run_inline(*, run_id: int) -> IndexRun:
    """The whole run in this process (the command's --inline, the benchmark's baseline)."""
    try:
        for chunk_id in plan_run(run_id=run_id):
            chunk_attempt_started(chunk_id=chunk_id)
            score_chunk(chunk_id=chunk_id)
        return finalize_run(run_id=run_id)
    except Exception:
        run_fail(run_id=run_id, reason=traceback.format_exc())
        raise
