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
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from apps.core.bulk import copy_rows, fetch_rows
from apps.enterprises.models import Enterprise
from apps.filings.models import Submission, SubmissionStatus
from apps.filings.packing import compiled_for
from apps.frameworks import scoring

from . import aggregation
from .models import IndexCell, IndexRun, RegisterSnapshot, RunChunk, RunScore, RunStatus

log = logging.getLogger(__name__)


def _chunk_count() -> int:
    return getattr(settings, "INDEX_RUN_CHUNKS", 8)


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


def plan_run(*, run_id: int) -> list[int]:
    """Start a run: split the period's accepted filings into chunks of whole provinces
    of about equal size. Returns the chunk ids to score (none left: already planned)."""
    with transaction.atomic():
        run = IndexRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return []
        if run.chunks.exists():  # planned before (a redelivered message): resume
            return list(run.chunks.filter(done=False).values_list("pk", flat=True))
        counts = (
            Submission.objects.filter(period_id=run.period_id, status=SubmissionStatus.ACCEPTED)
            .values_list("province_code")
            .annotate(n=Count("id"))
            .order_by("-n")
        )
        k = max(1, min(_chunk_count(), len(counts)))
        bins: list[list[str]] = [[] for _ in range(k)]
        sizes = [0] * k
        for province, n in counts:  # largest first into the lightest bin
            i = sizes.index(min(sizes))
            bins[i].append(province)
            sizes[i] += n
        chunks = RunChunk.objects.bulk_create(
            [RunChunk(run=run, index=i, province_codes=b, expected_rows=s) for i, (b, s) in enumerate(zip(bins, sizes, strict=True))]
        )
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.chunks_total = len(chunks)
        run.submissions = sum(sizes)
        run.heartbeat_at = timezone.now()
        run.progress = 1
        run.save()
        return [c.pk for c in chunks]


def _load_vectors(run: IndexRun, provinces: list[str]):
    """Accepted filings of the run's period in ``provinces``: ids, the answer matrix, and
    the county and division code each filing recorded when it was submitted (the codes the
    cells are built from, see :func:`recorded_frame`). One query."""
    table = Submission._meta.db_table
    enterprises_table = Enterprise._meta.db_table
    sql = (
        # Codes as recorded at submission (issue 8); only enterprises their authority has
        # confirmed count (issue 9: a self-registration counts once confirmed).
        f"SELECT s.id, s.enterprise_id, s.answer_vector, s.county_code, s.division_code FROM {table} s "
        f"JOIN {enterprises_table} e ON e.id = s.enterprise_id "
        f"WHERE s.period_id = %s AND s.status = %s AND NOT e.awaiting_confirmation "
        f"AND s.province_code IN ({', '.join(['%s'] * len(provinces))}) ORDER BY s.id"
    )
    ids, enterprises, blobs, counties, divisions = [], [], [], [], []
    for rows in fetch_rows(sql, [run.period_id, SubmissionStatus.ACCEPTED, *provinces]):
        for sub_id, ent_id, blob, county, division in rows:
            ids.append(sub_id)
            enterprises.append(ent_id)
            blobs.append(bytes(blob) if blob is not None else b"")
            counties.append(county)
            divisions.append(division)
    return np.asarray(ids, dtype=np.int64), np.asarray(enterprises, dtype=np.int64), blobs, counties, divisions


# --- indicator means: partial sums per chunk, added up in the join ---------------------------------
# A chunk stores, per county and per division of its filings, the sum and the number of
# the applicable indicator scores (NaN = not applicable counts as absent). The join adds
# the chunks up, rolls counties up to prefectures, provinces and the nation, and divides:
# the filings are read and scored once.

INDICATOR_MEAN_KINDS = ("nation", "province", "prefecture", "county", "division")
INDICATOR_DECIMALS = 2


def _group_sums(keys, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (sorted), sums (k × m float64) and counts (k × m int32) of the non-NaN
    entries of ``S`` (n × m) per value of ``keys`` (n codes). Vectorised: a sort by code
    and np.add.reduceat over the runs of equal codes."""
    m = S.shape[1]
    if not len(keys):
        return np.array([], dtype="U1"), np.zeros((0, m)), np.zeros((0, m), dtype=np.int32)
    ids, uniques = pd.factorize(pd.Series(keys, dtype=object).fillna("").astype(str), sort=True)
    order = np.argsort(ids, kind="stable")
    present = ~np.isnan(S)
    starts = np.flatnonzero(np.r_[True, np.diff(ids[order]) != 0])
    sums = np.add.reduceat(np.where(present, S, 0.0)[order], starts, axis=0) if m else np.zeros((len(uniques), 0))
    counts = np.add.reduceat(present[order].astype(np.int32), starts, axis=0) if m else np.zeros((len(uniques), 0), np.int32)
    return np.asarray(uniques, dtype=str), sums.astype(np.float64), counts.astype(np.int32)


def pack_indicator_sums(indicator_codes, S: np.ndarray, counties, divisions) -> bytes:
    """The chunk's partial sums as one compressed .npz (see RunChunk.indicator_sums)."""
    c_codes, c_sums, c_counts = _group_sums(counties, S)
    d_codes, d_sums, d_counts = _group_sums(divisions, S)
    buffer = io.BytesIO()
    np.savez_compressed(
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


def _means(frame: pd.DataFrame, indicator_codes: list[str], min_count: int) -> dict[str, dict[str, float | None]]:
    """{code: {indicator: mean rounded}} of summed rows; None where fewer than ``min_count``
    filings answered the indicator — a module indicator answered by one firm in a large
    cell would otherwise be that firm's score (the cell's own n does not protect it)."""
    m = len(indicator_codes)
    values = frame.to_numpy(float)
    sums, counts = values[:, :m], values[:, m:]
    enough = counts >= max(min_count, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.round(np.where(enough, sums / np.where(enough, counts, 1), np.nan), INDICATOR_DECIMALS)
    out = {}
    for code, row in zip(frame.index.tolist(), means.tolist(), strict=True):
        out[str(code)] = {ind: (None if np.isnan(v) else float(v)) for ind, v in zip(indicator_codes, row, strict=True)}
    return out


def indicator_means(
    run: IndexRun, registry: pd.DataFrame, indicator_codes: list[str], min_count: int = 1
) -> dict[tuple[str, str], dict]:
    """{(kind, code): {indicator: mean}} for the nation, provinces, prefectures, counties
    and divisions, from the chunks' partial sums. Counties are rolled up along the
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
    out: dict[tuple[str, str], dict] = {}
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


def _module_membership(compiled, enterprise_ids: np.ndarray, provinces: list[str], divisions=None) -> np.ndarray | None:
    """Which industry modules apply to each filing's enterprise. Reads the enterprises of
    the chunk's provinces by an indexed filter, not by a list of 20,000 ids.

    As of the period (issue 8): ``divisions`` are the divisions the filings recorded at
    submission. An enterprise whose industry today lies outside its recorded division has
    changed industry since; its modules are decided by the recorded division (a module
    of a finer industry group than the division cannot be told from it and does not apply)."""
    if not compiled.n_modules:
        return None
    industry = dict(Enterprise.objects.filter(province_code__in=provinces).values_list("pk", "industry_id"))
    tags: dict[int, list[str]] = {}
    through = Enterprise.key_industries.through
    for ent, key in through.objects.filter(enterprise__province_code__in=provinces).values_list("enterprise_id", "keyindustry_id"):
        tags.setdefault(ent, []).append(key)
    ids = enterprise_ids.tolist()
    moved = [e for e in ids if e not in industry]  # filed here, registered elsewhere since
    if moved:
        industry.update(Enterprise.objects.filter(pk__in=moved).values_list("pk", "industry_id"))
        for ent, key in through.objects.filter(enterprise_id__in=moved).values_list("enterprise_id", "keyindustry_id"):
            tags.setdefault(ent, []).append(key)
    codes = [industry[e] for e in ids]
    if divisions is not None:
        codes = [c if not d or str(c).startswith(d) else d for c, d in zip(codes, divisions, strict=True)]
    return scoring.module_membership(compiled, codes, [tags.get(e, ()) for e in ids])


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
        sub_ids, ent_ids, blobs, counties, divisions = _load_vectors(run, chunk.province_codes)
        loaded = time.perf_counter()
        width = compiled.n_indicators * 4
        missing = [i for i, b in enumerate(blobs) if len(b) != width]
        if missing:
            raise ValueError(f"{len(missing)} accepted filings have no packed answers of this framework (first id {sub_ids[missing[0]]})")
        A = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), compiled.n_indicators).astype(float) if blobs else np.empty((0, compiled.n_indicators))
        result = scoring.score_matrix(compiled, A, _module_membership(compiled, ent_ids, chunk.province_codes, divisions))
        partial_sums = pack_indicator_sums(compiled.indicator_codes, result.indicator_scores, counties, divisions)
        scored = time.perf_counter()
        RunScore.objects.filter(run=run, chunk=chunk.index).delete()  # an earlier, unfinished attempt
        dims = result.dimension_scores.astype("<f4")
        copy_rows(
            RunScore._meta.db_table,
            ["run_id", "chunk", "submission_id", "enterprise_id", "composite", "level", "dimension_scores"],
            (
                (run.pk, chunk.index, int(s), int(e), float(c), int(lv), dims[i].tobytes())
                for i, (s, e, c, lv) in enumerate(zip(sub_ids, ent_ids, result.composite, result.level, strict=True))
            ),
        )
        written = time.perf_counter()
        locked = RunChunk.objects.select_for_update().get(pk=chunk_id)
        if locked.done:  # another delivery finished it meanwhile: roll this one back
            transaction.set_rollback(True)
            return False
        locked.done, locked.finished_at, locked.indicator_sums = True, timezone.now(), partial_sums
        locked.save(update_fields=["done", "finished_at", "indicator_sums"])
        run_locked = IndexRun.objects.select_for_update().get(pk=run.pk)
        run_locked.chunks_done = run_locked.chunks.filter(done=True).count()
        run_locked.progress = 5 + int(80 * run_locked.chunks_done / max(run_locked.chunks_total, 1))
        run_locked.heartbeat_at = timezone.now()
        for step, seconds in (("load", loaded - started), ("score", scored - loaded), ("write_scores", written - scored)):
            run_locked.timings[step] = round(run_locked.timings.get(step, 0) + seconds, 3)
        run_locked.save(update_fields=["chunks_done", "progress", "heartbeat_at", "timings"])
        return run_locked.chunks_done == run_locked.chunks_total


# --- join -----------------------------------------------------------------------------------------


def _score_frame(run: IndexRun, dimension_codes: list[str]) -> pd.DataFrame:
    # In a fixed order (the unique index on run, enterprise_id): the rows are inserted in the
    # order the chunks finish, and sums in another order differ in the last bits.
    rows = RunScore.objects.filter(run=run).order_by("enterprise_id").values_list("enterprise_id", "composite", "level", "dimension_scores")
    ent, comp, lvl, dims = [], [], [], []
    for e, c, lv, d in rows.iterator(chunk_size=20000):
        ent.append(e)
        comp.append(c)
        lvl.append(lv)
        dims.append(bytes(d))
    frame = pd.DataFrame({"enterprise_id": np.asarray(ent, dtype=np.int64), "composite": comp, "level": lvl})
    matrix = np.frombuffer(b"".join(dims), dtype="<f4").reshape(len(dims), len(dimension_codes)) if dims else np.empty((0, len(dimension_codes)))
    for k, code in enumerate(dimension_codes):
        frame[code] = matrix[:, k].astype(float)
    return frame


REGISTER_COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "revenue"]


def _registry_frame() -> pd.DataFrame:
    # Every confirmed enterprise registered today (issue 9: self-registrations count once their
    # authority confirms them), also those in a since-abolished region code: what a period's
    # register snapshot is taken from.
    rows = Enterprise.objects.filter(awaiting_confirmation=False).values_list(
        "pk", "province_code", "prefecture_code", "county_code", "division_code", "size_class", "revenue"
    )
    frame = pd.DataFrame(list(rows), columns=REGISTER_COLUMNS)
    frame["revenue"] = frame["revenue"].astype(float)
    tags: dict[int, list[str]] = {}
    through = Enterprise.key_industries.through
    for ent, key in through.objects.values_list("enterprise_id", "keyindustry_id").iterator(chunk_size=50000):
        tags.setdefault(ent, []).append(key)
    frame["key_industries"] = [tuple(sorted(tags.get(e, ()))) for e in frame["enterprise_id"].tolist()]
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
        for c in [*REGISTER_COLUMNS[1:6], "key_industries"]:
            frame[c] = data[f"{c}__values"].astype(object)[data[f"{c}__codes"]]
        frame["revenue"] = data["revenue"]
    tags = {t: (tuple(t.split(",")) if t else ()) for t in set(frame["key_industries"])}
    frame["key_industries"] = frame["key_industries"].map(tags)
    return frame[[*REGISTER_COLUMNS, "key_industries"]]


def register_frame(period) -> tuple[pd.DataFrame, RegisterSnapshot]:
    """The register of ``period``: its snapshot, taken now from the current register if
    the period has none yet (its first run). Enterprises that move or register later do
    not change the period's ``registered`` counts or coverage."""
    from django.db import IntegrityError

    snapshot = RegisterSnapshot.objects.filter(period=period).first()
    if snapshot is None:
        frame = _registry_frame()
        try:
            with transaction.atomic():
                snapshot = RegisterSnapshot.objects.create(
                    period=period, enterprises=len(frame), digest=register_edition(frame)["sha256"],
                    data=_pack_register(frame),
                )
        except IntegrityError:  # another run of the period took it meanwhile
            snapshot = RegisterSnapshot.objects.get(period=period)
        else:
            return frame, snapshot
    return _unpack_register(snapshot.data), snapshot


def recorded_frame(period, register: pd.DataFrame) -> pd.DataFrame:
    """Each accepted filing's codes as recorded when it was submitted (region, division,
    size class, revenue), with its key-industry tags from the period's register (the
    current tags for an enterprise registered after the snapshot). One row per enterprise."""
    rows = Submission.objects.filter(period=period, status=SubmissionStatus.ACCEPTED).values_list(
        "enterprise_id", "province_code", "prefecture_code", "county_code", "division_code", "size_class", "revenue"
    )
    frame = pd.DataFrame(list(rows), columns=REGISTER_COLUMNS)
    frame["revenue"] = pd.to_numeric(frame["revenue"], errors="coerce").astype(float)
    tags = dict(zip(register["enterprise_id"].tolist(), register["key_industries"].tolist(), strict=True))
    fallback = register.set_index("enterprise_id")["revenue"]
    missing = frame["revenue"].isna()
    if missing.any():  # filings written without revenue (seeded data): the register's
        frame.loc[missing, "revenue"] = fallback.reindex(frame.loc[missing, "enterprise_id"]).to_numpy()
    unknown = [e for e in frame["enterprise_id"].tolist() if e not in tags]
    if unknown:
        through = Enterprise.key_industries.through
        late: dict[int, list[str]] = {}
        for ent, key in through.objects.filter(enterprise_id__in=unknown).values_list("enterprise_id", "keyindustry_id"):
            late.setdefault(ent, []).append(key)
        tags.update({e: tuple(sorted(late.get(e, ()))) for e in unknown})
    frame["key_industries"] = [tags[e] for e in frame["enterprise_id"].tolist()]
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
    scores = _score_frame(run, dimension_codes)
    registry, snapshot = register_frame(run.period)
    frame = scores.merge(recorded_frame(run.period, registry), on="enterprise_id", how="left")
    from .services import not_measured_frame  # each filing's 未统计 answers (issue 8)

    frame = frame.merge(not_measured_frame(run.period, run.framework), on="enterprise_id", how="left")
    previous = previous_published_run(run)
    previous_scores = previous_cells = None
    if previous is not None:
        previous_scores = pd.DataFrame(list(RunScore.objects.filter(run=previous).values_list("enterprise_id", "composite")),
                                       columns=["enterprise_id", "composite"])
        previous_cells = pd.DataFrame(list(IndexCell.objects.filter(run=previous).values("kind", "code", "n", "mean", "rank", "suppressed", "suppression_reason")))
    from .services import base_of_run, code_version, index_parameters, library_versions

    params = index_parameters(run)
    base_period, base_run, base_mean = base_of_run(run)
    if params.base_national_mean is None and base_mean is not None:
        params = aggregation.IndexParameters.from_dict({**params.to_dict(), "base_national_mean": base_mean})
    provenance = {
        "code_version": code_version(), "libraries": library_versions(),
        "framework": f"{run.framework.code} {run.framework.version}", "framework_id": run.framework_id,
        "register": {**register_edition(registry), "snapshot": snapshot.pk,
                     "taken_at": snapshot.taken_at.isoformat()}, "base_period": base_period,
        "base_run": base_run.pk if base_run else None, "previous_run": previous.pk if previous else None,
    }
    loaded = time.perf_counter()
    cells = aggregation.compute_cells(frame, registry, params, dimension_codes, previous_scores, previous_cells)
    protection = cells.attrs.get("protection", {})  # the interval rule ran inside compute_cells
    aggregated = time.perf_counter()
    indicator_codes = list(compiled_for(run.framework).indicator_codes)
    # an indicator mean resting on fewer filings than a publishable cell is not kept
    regions = pd.concat([frame[["county", "prefecture", "province"]], registry[["county", "prefecture", "province"]]])
    means = indicator_means(run, regions, indicator_codes, min_count=params.min_cell_size)
    cells["indicator_means"] = [
        means.get((kind, code), {}) if kind in INDICATOR_MEAN_KINDS else {}
        for kind, code in zip(cells["kind"].tolist(), cells["code"].tolist(), strict=True)
    ]
    indicators_done = time.perf_counter()
    columns = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]
    with transaction.atomic():
        locked = IndexRun.objects.select_for_update().get(pk=run_id)
        if locked.status != RunStatus.RUNNING:
            return locked
        IndexCell.objects.filter(run=locked).delete()
        fields = [c for c in columns if c in cells.columns]
        records = cells[fields].astype(object).where(cells[fields].notna(), None)
        for name, empty in (("level_shares", []), ("dimension_means", {}), ("indicator_means", {})):
            if name in records:
                records[name] = [json.dumps(v if v is not None else empty, ensure_ascii=False) for v in records[name]]
        # COPY bypasses model defaults: a new cell is not stale.
        copy_rows(IndexCell._meta.db_table, ["run_id", "stale", *fields],
                  ((locked.pk, False, *row) for row in records.itertuples(index=False, name=None)))
        written = time.perf_counter()
        locked.cells = len(cells)
        locked.suppressed_cells = int(cells["suppressed"].sum()) if len(cells) else 0
        locked.parameters = {**locked.parameters, **params.to_dict()}
        locked.provenance = {**locked.provenance, **provenance}
        locked.previous_run, locked.base_run = previous, base_run
        locked.audit = {**locked.audit, "protection": protection}
        locked.timings.update(
            {"load_join": round(loaded - started, 3), "aggregate": round(aggregated - loaded, 3),
             "indicator_means": round(indicators_done - aggregated, 3), "write_cells": round(written - indicators_done, 3)}
        )
        locked.status, locked.progress, locked.finished_at = RunStatus.SUCCEEDED, 100, timezone.now()
        locked.timings["wall"] = round((locked.finished_at - locked.started_at).total_seconds(), 3)
        locked.save()
    from .services import revision_blockers

    blockers = revision_blockers(locked)
    published = IndexRun.objects.filter(period_id=locked.period_id, is_published=True).exclude(pk=locked.pk).first()
    locked.audit = {**locked.audit, "revision": {"against": published.pk if published else None,
                                                 "blocking_cells": blockers}}
    locked.save(update_fields=["audit"])
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
