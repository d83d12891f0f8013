"""The chunks' hand-over to the join (issue 13): each chunk packs what the join needs of its
filings — scores, recorded codes, revenue, key-industry tags as of the period and 未统计
counts — with its scores, and the join reads those blobs instead of the period's rows. The
hand-over must give exactly the frame the row-wise reads give, and the same cells."""

import pandas as pd
import pytest

from apps.filings.models import Answer, Submission
from apps.frameworks.models import Indicator
from apps.indices import pipeline
from apps.indices.models import IndexCell, IndexRun, RunChunk, RunStatus
from apps.indices.services import index_run_start
from tests.factories import key_industry
from tests.indices.population import build
from tests.indices.test_as_of_period_modules import kpi_module_framework
from tests.indices.test_index_runs import CELL_FIELDS

pytestmark = pytest.mark.django_db


def population():
    """21 filings with 未统计 marks on a common and a module KPI (two filings in the
    module's division 27, a stray mark where the module does not apply), key-industry tags
    on some enterprises and no recorded revenue on others (the register's is used)."""
    (period,) = build(n=24, periods=("2025",), framework=kpi_module_framework())
    filings = list(Submission.objects.filter(period=period).select_related("enterprise").order_by("pk"))
    Submission.objects.filter(pk__in=[filings[0].pk, filings[1].pk]).update(division_code="27", industry_code="27")
    k1, b2 = (Indicator.objects.get(framework=period.framework, code=c) for c in ("K1", "B2"))
    for submission, indicator in ((filings[0], k1), (filings[0], b2), (filings[2], k1), (filings[3], b2)):
        Answer.objects.create(submission=submission, indicator=indicator, not_measured=True)
    electronics = key_industry()
    for submission in filings[::3]:
        submission.enterprise.key_industries.add(electronics)
    Submission.objects.filter(pk__in=[s.pk for s in filings[1::2]]).update(revenue=1234.5)
    Submission.objects.filter(pk__in=[s.pk for s in filings[::2]]).update(revenue=None)
    return period


def scored_run(period) -> IndexRun:
    """A run of ``period`` planned and scored chunk by chunk, not joined yet."""
    run = index_run_start(period=period, user=None, enqueue=False)
    for chunk_id in pipeline.plan_run(run_id=run.pk):
        pipeline.chunk_attempt_started(chunk_id=chunk_id)
        pipeline.score_chunk(chunk_id=chunk_id)
    return IndexRun.objects.select_related("period", "framework").get(pk=run.pk)


def dimension_codes(run):
    return list(run.framework.dimensions.order_by("order", "code").values_list("code", flat=True))


def test_the_hand_over_equals_the_row_wise_read(settings):
    settings.INDEX_RUN_CHUNKS = 3
    run = scored_run(population())
    assert RunChunk.objects.filter(run=run).count() > 1
    registry, _ = pipeline.register_frame(run.period)
    handed = pipeline.join_frame_from_chunks(run, dimension_codes(run))
    read = pipeline.join_frame_from_rows(run, dimension_codes(run), registry)
    assert handed is not None and len(handed) == 21
    pd.testing.assert_frame_equal(handed, read, check_exact=True)
    # what the population puts in: marks, tags and the register's revenue are all there
    assert handed["not_measured"].sum() == 3 and handed["kpi_asked"].sum() == 2 * 2 + 19
    assert (handed["key_industries"].map(len) > 0).sum() == 7
    assert handed["revenue"].notna().all() and (handed["revenue"] == 1234.5).sum() == 10


def test_a_run_whose_chunks_handed_nothing_over_reads_the_rows_and_gives_the_same_cells(settings):
    """A chunk scored by an earlier version has no hand-over: the join reads the rows."""
    settings.INDEX_RUN_CHUNKS = 3
    period = population()
    handed = pipeline.finalize_run(run_id=scored_run(period).pk)
    without = scored_run(period)
    RunChunk.objects.filter(run=without).update(join_columns=None)
    assert pipeline.join_frame_from_chunks(without, dimension_codes(without)) is None
    read = pipeline.finalize_run(run_id=without.pk)
    assert handed.status == read.status == RunStatus.SUCCEEDED

    def cells(run):
        return {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=run).values(*CELL_FIELDS)}

    assert cells(handed) == cells(read) and len(cells(handed)) > 10


def test_a_chunk_scored_again_rewrites_its_hand_over(settings):
    """A chunk whose first attempt was lost (its transaction rolled back or a new attempt
    after the reaper) writes its scores and hand-over together: the join sees one of each."""
    settings.INDEX_RUN_CHUNKS = 2
    run = scored_run(population())
    chunk = RunChunk.objects.filter(run=run).order_by("index").first()
    first = bytes(chunk.join_columns)
    RunChunk.objects.filter(pk=chunk.pk).update(done=False, join_columns=None)
    pipeline.chunk_attempt_started(chunk_id=chunk.pk)
    assert pipeline.score_chunk(chunk_id=chunk.pk) is True
    again = pipeline.unpack_join_columns(RunChunk.objects.get(pk=chunk.pk).join_columns)
    before = pipeline.unpack_join_columns(first)
    assert again.keys() == before.keys()
    for name in before:
        assert list(map(str, again[name].tolist())) == list(map(str, before[name].tolist())), name
    registry, _ = pipeline.register_frame(run.period)
    pd.testing.assert_frame_equal(
        pipeline.join_frame_from_chunks(run, dimension_codes(run)),
        pipeline.join_frame_from_rows(run, dimension_codes(run), registry),
        check_exact=True,
    )


def test_the_join_checks_a_rerun_with_the_filings_it_holds(settings):
    """The join checks a re-run against the published run with the filings in its memory,
    and a later check takes a run's filings from its chunks' hand-overs (each chunk hands
    over its filings' ids): they are the filings read from the rows (a run whose chunks
    handed none over), and the record is the one a check that reads the rows makes."""
    from apps.filings.models import SubmissionStatus
    from apps.indices import services

    settings.INDEX_RUN_CHUNKS = 3
    period = population()
    services.index_run_publish(run=pipeline.finalize_run(run_id=scored_run(period).pk), user=None)
    # a filing withdrawn after the publication: the cells it was in change by one
    gone = Submission.objects.filter(period=period, status=SubmissionStatus.ACCEPTED).order_by("pk").first()
    Submission.objects.filter(pk=gone.pk).update(status=SubmissionStatus.RETURNED)
    rerun = scored_run(period)
    handed = pipeline.join_frame_from_chunks(rerun, dimension_codes(rerun))
    held = pipeline.run_filings_of_frame(handed, handed.pop("submission"))
    pd.testing.assert_frame_equal(held, services.run_filings(rerun), check_exact=True)
    done = pipeline.finalize_run(run_id=rerun.pk)
    recorded = done.audit["revision"]["blocking_cells"]
    assert recorded == services.revision_record(done)["blocking_cells"]  # both runs from hand-overs
    RunChunk.objects.filter(run__period=period).update(join_columns=None)  # now from the rows
    read = services.run_filings(done)
    pd.testing.assert_frame_equal(held, read, check_exact=True)
    assert len(read) == 20 and gone.pk not in set(read["submission"])
    assert recorded == services.revision_record(done)["blocking_cells"]
    assert "nation" in {b["kind"] for b in recorded if b.get("changed") == 1}  # (its county is hidden here)


def test_hand_overs_without_filing_ids_are_read_as_before(settings):
    """A run scored before the chunks handed over their filings' ids: its filings come from
    the rows, and its join still reads the hand-overs and checks with the rows."""
    import io

    import numpy as np

    from apps.indices import services

    settings.INDEX_RUN_CHUNKS = 2
    period = population()
    services.index_run_publish(run=pipeline.finalize_run(run_id=scored_run(period).pk), user=None)
    run = scored_run(period)
    held = services.run_filings(run)
    for chunk in RunChunk.objects.filter(run=run):  # as an earlier version packed it
        with np.load(io.BytesIO(bytes(chunk.join_columns)), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key != "submission"}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        RunChunk.objects.filter(pk=chunk.pk).update(join_columns=buffer.getvalue())
    assert pipeline.handed_filings(run) is None
    pd.testing.assert_frame_equal(services.run_filings(run), held, check_exact=True)
    frame = pipeline.join_frame_from_chunks(run, dimension_codes(run))
    assert frame is not None and "submission" not in frame
    done = pipeline.finalize_run(run_id=run.pk)
    assert done.status == RunStatus.SUCCEEDED
    assert done.audit["revision"]["blocking_cells"] == services.revision_record(done)["blocking_cells"]


def test_the_cells_json_text_is_what_json_dumps_writes():
    """The join writes the indicator means as JSON text built a matrix at a time (each
    distinct number formatted once): the same text as json.dumps of each cell's dict."""
    import json

    import numpy as np

    rng = np.random.default_rng(8)
    matrix = np.round(rng.random((40, 6)) * 100, rng.integers(0, 12))
    matrix[3, 2], matrix[5, :], matrix[7, 1], matrix[8, 1] = np.nan, np.nan, -0.0, 0.0
    matrix[9, 0] = 1e-7
    keys = ["A1", "质量%", 'B"2', "C", "D", "E"]
    as_dicts = [{k: (None if np.isnan(v) else v) for k, v in zip(keys, row, strict=True)} for row in matrix.tolist()]
    assert pipeline.json_objects(keys, matrix) == [json.dumps(d, ensure_ascii=False) for d in as_dicts]
    assert pipeline.json_objects([], matrix[:2]) == ["{}", "{}"]


def test_the_hand_over_blobs_are_compressed_with_lz4_on_postgresql(settings):
    """A chunk's blobs (8 MB of join columns for 85,000 filings) are TOASTed with lz4: the
    default pglz spent most of a chunk's commit compressing them. What a chunk writes and
    the join reads back is the same bytes either way."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                       "AND 'lz4' = ANY(enumvals)")
        if cursor.fetchone() is None:
            pytest.skip("this PostgreSQL is built without lz4 (the migration keeps pglz)")
        cursor.execute("SELECT attname, attcompression FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attname IN ('join_columns', 'indicator_sums')", [RunChunk._meta.db_table])
        assert dict(cursor.fetchall()) == {"join_columns": "l", "indicator_sums": "l"}
    settings.INDEX_RUN_CHUNKS = 2
    run = scored_run(population())
    blob = bytes(RunChunk.objects.filter(run=run).order_by("index").first().join_columns)
    assert pipeline.unpack_join_columns(blob).keys() >= {"enterprise_id", "composite", "revenue"}
