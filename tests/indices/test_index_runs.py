"""Index runs end to end on the database: cells, idempotence, publishing, staleness,
failure, and a real Celery worker (also one killed in the middle)."""

import time

import pytest
from django.core.exceptions import ValidationError

from apps.filings.models import Submission, SubmissionStatus
from apps.filings.packing import submission_score
from apps.indices import pipeline
from apps.indices.models import IndexCell, IndexRun, RunChunk, RunStatus
from apps.indices.services import index_mark_stale, index_run_publish, index_run_start
from apps.indices.tasks import reap_stalled_runs
from tests.indices.population import build

pytestmark = pytest.mark.django_db

CELL_FIELDS = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]


def inline_run(period, **params):
    run = index_run_start(period=period, user=None, parameters=params or None, enqueue=False)
    return pipeline.run_inline(run_id=run.pk)


def cells_of(run):
    return {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=run).values(*CELL_FIELDS)}


def test_full_run_computes_every_cell_from_the_filings():
    p2025, p2026 = build()
    run = inline_run(p2026)
    assert run.status == RunStatus.SUCCEEDED and run.progress == 100
    expected = list(Submission.objects.filter(period=p2026, status=SubmissionStatus.ACCEPTED))
    assert run.submissions == len(expected) == 54
    cells = cells_of(run)
    nation = cells[("nation", "CN")]
    assert nation["n"] == 54 and nation["registered"] == 60
    assert nation["coverage"] == pytest.approx(54 / 60)
    # the run's scores equal the filing-by-filing scores of the enterprise reports
    from apps.indices.models import RunScore

    by_enterprise = dict(RunScore.objects.filter(run=run).values_list("enterprise_id", "composite"))
    for sub in expected[:10]:
        Submission.objects.filter(pk=sub.pk).update(status=SubmissionStatus.ACCEPTED)
        assert submission_score(submission_id=sub.pk).composite == pytest.approx(by_enterprise[sub.enterprise_id], abs=1e-4)
    assert nation["mean"] == pytest.approx(sum(by_enterprise.values()) / 54)
    kinds = {k for k, _ in cells}
    assert {"nation", "province", "prefecture", "county", "division", "size", "province_division", "prefecture_division"} <= kinds
    assert cells[("province", "320000")]["n"] + cells[("province", "330000")]["n"] == 54
    assert run.timings["aggregate"] >= 0 and run.cells == len(cells)


def test_same_inputs_same_outputs_every_cell():
    _, p2026 = build()
    first = cells_of(inline_run(p2026))
    second = cells_of(inline_run(p2026))
    assert first.keys() == second.keys()
    for key, cell in first.items():
        assert cell == second[key], key


def test_change_against_the_previous_published_period():
    p2025, p2026 = build()
    index_run_publish(run=inline_run(p2025), user=None)
    run = inline_run(p2026)
    nation = cells_of(run)[("nation", "CN")]
    prev = IndexCell.objects.get(run__period=p2025, kind="nation")
    assert nation["prev_mean"] == pytest.approx(prev.mean)
    assert nation["change"] == pytest.approx(nation["mean"] - prev.mean)
    assert nation["panel_n"] == 48  # present in both periods: 60 minus 6 + 6 who skipped one
    assert nation["dev_index"] == pytest.approx(100 * nation["mean"] / prev.mean)  # 2025 is the base (first published)


def test_only_one_active_run_per_period():
    _, p2026 = build(n=10)
    index_run_start(period=p2026, user=None, enqueue=False)
    with pytest.raises(ValidationError, match="正在排队或进行中"):
        index_run_start(period=p2026, user=None, enqueue=False)


def test_publishing_switches_atomically_and_can_roll_back():
    _, p2026 = build(n=20)
    first = inline_run(p2026)
    second = inline_run(p2026)
    index_run_publish(run=first, user=None)
    index_run_publish(run=second, user=None)
    assert list(IndexRun.objects.filter(period=p2026, is_published=True)) == [second]
    index_run_publish(run=first, user=None)  # roll back
    assert list(IndexRun.objects.filter(period=p2026, is_published=True)) == [first]
    failed = IndexRun.objects.create(period=p2026, framework=p2026.framework, status=RunStatus.FAILED, code_version="x")
    with pytest.raises(ValidationError, match="计算成功"):
        index_run_publish(run=failed, user=None)


def test_accepting_a_filing_after_publishing_marks_its_cells_stale():
    _, p2026 = build(n=20)
    run = index_run_publish(run=inline_run(p2026), user=None)
    sub = Submission.objects.filter(period=p2026).first()
    # nation, province, prefecture, county, division, size, province×division, prefecture×division
    assert index_mark_stale(submission=sub) == 8
    run.refresh_from_db()
    assert run.stale_since is not None
    stale = set(IndexCell.objects.filter(run=run, stale=True).values_list("kind", "code"))
    assert ("county", sub.county_code) in stale and ("nation", "CN") in stale
    assert ("province", "330000" if sub.province_code == "320000" else "320000") not in stale


def test_a_run_that_cannot_read_its_filings_fails_with_the_reason():
    _, p2026 = build(n=10)
    Submission.objects.filter(period=p2026).update(answer_vector=None)
    run = index_run_start(period=p2026, user=None, enqueue=False)
    with pytest.raises(ValueError):
        pipeline.run_inline(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "no packed answers" in run.error_log
    assert not IndexRun.objects.filter(status=RunStatus.RUNNING).exists()


def test_reaper_fails_a_run_whose_chunks_keep_dying(settings):
    _, p2026 = build(n=10)
    settings.INDEX_RUN_STALL_SECONDS = 0
    run = index_run_start(period=p2026, user=None, enqueue=False)
    pipeline.plan_run(run_id=run.pk)
    RunChunk.objects.filter(run=run).update(attempts=3)
    reap_stalled_runs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "已尝试 3 次" in run.error_log


# --- real worker -----------------------------------------------------------------------------------


def _wait(run, statuses, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.status} after {seconds} s")


@pytest.mark.worker
def test_real_worker_runs_a_whole_run(celery_worker, settings):
    _, p2026 = build()
    run = index_run_start(period=p2026, user=None)
    run = _wait(run, {RunStatus.SUCCEEDED, RunStatus.FAILED})
    assert run.status == RunStatus.SUCCEEDED, run.error_log + celery_worker.log(celery_worker.test_started_at)
    assert run.chunks_total >= 2 and run.chunks_done == run.chunks_total  # fanned out, joined once
    assert cells_of(run) == cells_of(inline_run(p2026))  # the same numbers as in one process


@pytest.mark.worker
def test_worker_killed_mid_run_ends_succeeded_never_stuck(celery_worker, settings):
    """SIGKILL the worker while it holds a chunk: the run is picked up again by the reaper
    and completes (or fails with a reason) — it is never left running."""
    _, p2026 = build()
    run = index_run_start(period=p2026, user=None, parameters={"drill_chunk_delay_seconds": 3})
    deadline = time.monotonic() + 60
    while not RunChunk.objects.filter(run=run, attempts__gte=1, done=False).exists():
        assert time.monotonic() < deadline, celery_worker.log(celery_worker.test_started_at)
        time.sleep(0.05)
    celery_worker.kill()
    assert IndexCell.objects.filter(run=run).count() == 0  # nothing half-written is visible
    celery_worker.restart()
    settings.INDEX_RUN_STALL_SECONDS = 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    reap_stalled_runs()
    run = _wait(run, {RunStatus.SUCCEEDED, RunStatus.FAILED})
    assert run.status == RunStatus.SUCCEEDED, run.error_log
    assert RunChunk.objects.filter(run=run, attempts__gte=2).exists()


# --- indicator means -------------------------------------------------------------------------------


def _expected_indicator_scores(period, **filters):
    """Indicator scores of the accepted filings matching ``filters``, scored afresh from
    their packed answers (independently of the run): {indicator code: list of scores}."""
    import numpy as np

    from apps.enterprises.models import Enterprise
    from apps.filings.packing import compiled_for
    from apps.frameworks import scoring

    compiled = compiled_for(period.framework)
    subs = list(Submission.objects.filter(period=period, status=SubmissionStatus.ACCEPTED, **filters).order_by("pk"))
    A = np.vstack([scoring.unpack_answers(s.answer_vector, compiled) for s in subs]).astype(float)
    industries = dict(Enterprise.objects.filter(pk__in=[s.enterprise_id for s in subs]).values_list("pk", "industry_id"))
    membership = scoring.module_membership(compiled, [industries[s.enterprise_id] for s in subs])
    S = scoring.score_matrix(compiled, A, membership).indicator_scores
    return {code: [v for v in S[:, j].tolist() if v == v] for j, code in enumerate(compiled.indicator_codes)}


def test_indicator_means_of_a_county_and_of_the_nation():
    _, p2026 = build()
    run = inline_run(p2026)
    cells = cells_of(run)
    county = cells[("county", "320102")]
    expected = _expected_indicator_scores(p2026, enterprise__county_code="320102")
    assert set(county["indicator_means"]) == set(expected)
    for code, values in expected.items():
        if values:
            assert county["indicator_means"][code] == pytest.approx(sum(values) / len(values), abs=0.005), code
        else:
            assert county["indicator_means"][code] is None, code
    # the nation: the filing-weighted mean of its counties (weights = filings the indicator applies to)
    nation = cells[("nation", "CN")]
    counties = ["320102", "320104", "320508", "330106", "330108"]
    per_county = {c: _expected_indicator_scores(p2026, enterprise__county_code=c) for c in counties}
    for code, mean in nation["indicator_means"].items():
        weights = [len(per_county[c][code]) for c in counties]
        if not sum(weights):
            assert mean is None
            continue
        weighted = sum(w * cells[("county", c)]["indicator_means"][code] for w, c in zip(weights, counties, strict=True) if w) / sum(weights)
        assert mean == pytest.approx(weighted, abs=0.01), code
    # prefectures, provinces and divisions have them; other kinds do not
    assert cells[("prefecture", "320100")]["indicator_means"] and cells[("province", "330000")]["indicator_means"]
    assert cells[("division", "39")]["indicator_means"]
    assert all(not c["indicator_means"] for (kind, _), c in cells.items() if kind not in pipeline.INDICATOR_MEAN_KINDS)
    assert run.timings["indicator_means"] >= 0


def test_indicator_means_are_the_same_in_a_second_run_and_on_a_redelivered_chunk():
    _, p2026 = build()
    first = {k: c["indicator_means"] for k, c in cells_of(inline_run(p2026)).items()}
    run = index_run_start(period=p2026, user=None, enqueue=False)
    chunk_ids = pipeline.plan_run(run_id=run.pk)
    for chunk_id in chunk_ids:
        pipeline.score_chunk(chunk_id=chunk_id)
    RunChunk.objects.filter(pk=chunk_ids[0]).update(done=False)  # a redelivered chunk: scored again
    IndexRun.objects.filter(pk=run.pk).update(chunks_done=len(chunk_ids) - 1)
    pipeline.score_chunk(chunk_id=chunk_ids[0])
    second = {k: c["indicator_means"] for k, c in cells_of(pipeline.finalize_run(run_id=run.pk)).items()}
    assert first == second
    assert first[("nation", "CN")] and all(v is None or 0 <= v <= 100 for v in first[("nation", "CN")].values())


def test_public_view_of_a_suppressed_cell_has_no_indicator_means():
    import pandas as pd

    from apps.indices.disclosure import public_view
    from apps.indices.readers import PUBLIC, Reader, cells_for, public_memo
    from apps.indices.services import index_parameters

    _, p2026 = build(small_county=True)
    run = inline_run(p2026)
    frame = pd.DataFrame(list(IndexCell.objects.filter(run=run).values(*CELL_FIELDS)))
    params = index_parameters(run)
    public = public_view(frame, params)
    small = frame.index[(frame["kind"] == "county") & (frame["code"] == "320105")][0]
    assert frame.at[small, "suppressed"] and frame.at[small, "indicator_means"]  # stored unsuppressed
    assert public.at[small, "indicator_means"] is None
    assert public.loc[frame["suppressed"].to_numpy(bool), "indicator_means"].isna().all()
    published = ~frame["suppressed"].to_numpy(bool) & (frame["n"].to_numpy() > 0) & frame["kind"].isin(pipeline.INDICATOR_MEAN_KINDS).to_numpy()
    assert published.any() and all(public.loc[published, "indicator_means"])
    # the new column changes nothing else the public sees (order statistics included)
    without = public_view(frame.drop(columns=["indicator_means"]), params)
    pd.testing.assert_frame_equal(public.drop(columns=["indicator_means"]), without)
    # readers: the public sees none, insiders (here ministry-wide) see them
    from django.core.cache import cache

    cache.clear()
    public_memo.clear()  # run ids repeat between tests on SQLite
    assert cells_for(PUBLIC, run, "county", codes=("320105",))[0]["indicator_means"] is None
    insider = Reader(everything=True, covers=lambda code: True)
    assert cells_for(insider, run, "county", codes=("320105",))[0]["indicator_means"]
    cache.clear()
    public_memo.clear()


@pytest.mark.worker
def test_a_slow_chunk_reports_progress_and_is_neither_rerun_nor_failed(celery_worker, settings):
    """Finding 8: the heartbeat was stamped only when a chunk finished, so a chunk longer
    than the stall limit was re-run (and one longer than about three limits failed the run).
    Now the working chunk reports every drill_heartbeat_seconds; the reaper, called again and
    again with a stall limit far shorter than the chunk, leaves it alone."""
    _, p2026 = build()
    run = index_run_start(period=p2026, user=None,
                          parameters={"drill_chunk_delay_seconds": 4, "drill_heartbeat_seconds": 0.3})
    deadline = time.monotonic() + 60
    while not RunChunk.objects.filter(run=run, attempts__gte=1, done=False).exists():
        assert time.monotonic() < deadline, celery_worker.log(celery_worker.test_started_at)
        time.sleep(0.05)
    settings.INDEX_RUN_STALL_SECONDS = 1.5
    started = RunChunk.objects.filter(run=run, attempts__gte=1).order_by("index").first()
    first_beat = started.heartbeat_at
    run.refresh_from_db()
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        assert time.monotonic() < deadline + 60, celery_worker.log(celery_worker.test_started_at)
        time.sleep(0.5)
        reap_stalled_runs()
        run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error_log
    assert list(RunChunk.objects.filter(run=run).values_list("attempts", flat=True)) == [1] * run.chunks_total
    started.refresh_from_db()
    assert started.heartbeat_at > first_beat  # it reported while it worked
