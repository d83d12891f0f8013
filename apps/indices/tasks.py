"""Celery tasks of an index run: plan → score chunks (fan-out over workers) → join.

Tasks take ids, re-read rows and are idempotent (see pipeline.py). A failure in any step
marks the run failed with the reason; a worker killed mid-chunk is caught by
``reap_stalled_runs`` (beat, every minute), which re-enqueues unfinished chunks whose
worker stopped reporting (a working chunk stamps its heartbeat every quarter of the stall
limit, see pipeline.chunk_heartbeat) or, after repeated attempts, fails the run — a run is
never left "running" for ever, and a slow chunk is never re-run or failed.
"""

import logging
import time
import traceback
from contextlib import contextmanager
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from . import pipeline
from .models import IndexRun, RunChunk, RunStatus

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
MAX_CHUNK_ATTEMPTS = 3


@contextmanager
def _run_fails_on_error(run_id: int):
    """Mark the run failed with the traceback when a step raises, then re-raise. Transient
    database errors pass through untouched: the task retries them (autoretry_for)."""
    try:
        yield
    except TRANSIENT:
        raise
    except Exception as exc:
        pipeline.run_fail(run_id=run_id, reason="".join(traceback.format_exception(exc)))
        raise


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, max_retries=3)
def start_index_run(self, run_id: int) -> None:
    """Plan the run and fan its chunks out to the workers."""
    with _run_fails_on_error(run_id):
        chunk_ids = pipeline.plan_run(run_id=run_id)
    if not chunk_ids and IndexRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, chunks_total=0).exists():
        finish_index_run.delay(run_id)  # nothing to score: join straight away
    for chunk_id in chunk_ids:
        score_run_chunk.delay(chunk_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, max_retries=3)
def score_run_chunk(self, chunk_id: int) -> None:
    """Score one chunk; the delivery that completes the last chunk enqueues the join."""
    found = RunChunk.objects.filter(pk=chunk_id).values_list("run_id", "run__parameters").first()
    if found is None:
        return
    run_id, parameters = found
    with _run_fails_on_error(run_id):
        pipeline.chunk_attempt_started(chunk_id=chunk_id)
        with pipeline.chunk_heartbeat(chunk_id=chunk_id, run_id=run_id, interval=pipeline.heartbeat_interval(parameters)):
            delay = float(parameters.get("drill_chunk_delay_seconds", 0))
            if delay:  # failure drill: widens the window in which a worker can be killed mid-chunk
                time.sleep(delay)
            last = pipeline.score_chunk(chunk_id=chunk_id)
    if last:
        finish_index_run.delay(run_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, max_retries=3)
def finish_index_run(self, run_id: int) -> None:
    """Join: aggregate the cells and mark the run succeeded."""
    with _run_fails_on_error(run_id):
        pipeline.finalize_run(run_id=run_id)


@shared_task
def reap_stalled_runs() -> int:
    """Find runs whose heartbeat stopped (a worker died) and resume or fail them."""
    limit = timedelta(seconds=getattr(settings, "INDEX_RUN_STALL_SECONDS", 120))
    cutoff = timezone.now() - limit
    handled = 0
    for run in IndexRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING], heartbeat_at__lt=cutoff):
        handled += 1
        with transaction.atomic():
            run = IndexRun.objects.select_for_update().get(pk=run.pk)
            if run.status == RunStatus.QUEUED or not run.chunks.exists():
                run.heartbeat_at = timezone.now()
                run.save(update_fields=["heartbeat_at"])
                transaction.on_commit(lambda rid=run.pk: start_index_run.delay(rid))
                continue
            pending = list(run.chunks.filter(done=False))
            if not pending:
                transaction.on_commit(lambda rid=run.pk: finish_index_run.delay(rid))
                continue
            # a chunk whose worker still reports is slow, not dead: leave it alone
            pending = [c for c in pending if c.heartbeat_at is None or c.heartbeat_at < cutoff]
            if not pending:
                continue
            worn = [c for c in pending if c.attempts >= MAX_CHUNK_ATTEMPTS]
            if worn:
                run.status, run.finished_at = RunStatus.FAILED, timezone.now()
                run.error_log = (
                    f"计算中断：分块 {', '.join(str(c.index) for c in worn)} 已尝试 {MAX_CHUNK_ATTEMPTS} 次仍未完成"
                    f"（工作进程可能被终止或内存不足）。"
                )
                run.save(update_fields=["status", "finished_at", "error_log"])
                continue
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["heartbeat_at"])
            log.warning("index run %s stalled; re-enqueueing %d chunk(s)", run.pk, len(pending))
            for c in pending:
                transaction.on_commit(lambda cid=c.pk: score_run_chunk.delay(cid))
    return handled


@shared_task
def compute_open_periods() -> list[int]:
    """Nightly: start a run for every period that has accepted filings and no active run."""
    from apps.filings.models import Period

    from .services import index_run_start

    started = []
    for period in Period.objects.filter(submissions__status="accepted").distinct():
        if not IndexRun.objects.filter(period=period, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
            started.append(index_run_start(period=period, user=None).pk)
    return started


@shared_task
def snapshot_closed_periods() -> list[int]:
    """Hourly (beat): take the register snapshot of every period whose filing window has
    closed (its closing date is past, local time) and that has none yet, so that the
    period's register is the one of its closing, not of its first run (issue 8). Idempotent:
    a period that has its snapshot is left alone; runs later read it
    (pipeline.register_frame). Returns the ids of the periods snapshotted now."""
    from django.utils import timezone as tz

    from apps.filings.models import Period

    from .models import RegisterSnapshot
    from .pipeline import period_snapshot

    taken = []
    closed = Period.objects.filter(closes_on__lt=tz.localdate()).exclude(
        pk__in=RegisterSnapshot.objects.values("period_id")).order_by("closes_on")
    for period in closed:
        period_snapshot(period)
        taken.append(period.pk)
    return taken
