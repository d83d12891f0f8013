"""Background tasks of the insights app."""

from celery import shared_task

from .exports import export_job_run


@shared_task(acks_late=True)
def run_export_job(job_id: int) -> str | None:
    """Write the file of the queued ExportJob ``job_id`` (see
    :func:`apps.insights.exports.export_job_run`). Safe to deliver twice. Returns the job's
    final status."""
    job = export_job_run(job_id=job_id)
    return job.status if job is not None else None
