"""Background tasks of the enterprises app."""

from celery import shared_task

from .imports import import_job_run


@shared_task(acks_late=True)
def run_import_job(job_id: int) -> str | None:
    """Run the queued ImportJob ``job_id`` (see :func:`apps.enterprises.imports.import_job_run`).

    Safe to deliver twice: a finished job is not run again. Returns the job's final status.
    """
    job = import_job_run(job_id=job_id)
    return job.status if job is not None else None
