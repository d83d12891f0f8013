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
    assert nation["dev_index"] == pytest.approx(100 * nation["mean"] / prev.mean)


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
