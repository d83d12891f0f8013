"""Celery tasks of filings: thin wrappers that take ids and call services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .packing import submission_score


@shared_task(
    bind=True,
    # Only transient database trouble is retried; a bug raises at once.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    acks_late=True,
)
def score_submission(self, submission_id: int) -> float | None:
    """Score an accepted submission (idempotent; safe to run twice), then flag the cells
    of the published index it belongs to as stale (the incremental refresh)."""
    from apps.indices.services import index_mark_stale

    score = submission_score(submission_id=submission_id)
    if score is None:
        return None
    index_mark_stale(submission=score.submission)
    return score.composite


@shared_task(acks_late=True)
def run_submission_import_job(job_id: int) -> str | None:
    """Run the queued SubmissionImportJob ``job_id`` (see
    :func:`apps.filings.transfer_jobs.submission_import_job_run`). Safe to deliver twice."""
    from .transfer_jobs import submission_import_job_run

    job = submission_import_job_run(job_id=job_id)
    return job.status if job is not None else None
