"""Paper-filing imports as background jobs: the upload is stored as a SubmissionImportJob and
a Celery worker runs :func:`apps.filings.transfer.submissions_import` on it, like the
enterprise import jobs (:mod:`apps.enterprises.imports`).

The job row is locked while the import runs, and the data and the job's result are committed
together: a second delivery of the task waits and then finds the job finished. While it
runs, the job records how many rows it has checked and written in the cache (the job's own
row is inside the import's transaction), which the job page shows.
"""

from __future__ import annotations

from pathlib import PurePath

from django.conf import settings
from django.db import transaction

from apps.core.jobs import JobProgress, run_file_import
from apps.core.models import ImportJobStatus
from apps.core.spreadsheets import SpreadsheetError

from .models import Period, SubmissionImportJob
from .transfer import submissions_import

#: row counters of running paper-filing import jobs (apps.core.jobs)
PROGRESS = JobProgress("submission-import-job")


def submission_import_job_progress(job: SubmissionImportJob) -> dict:
    """{"checked": rows, "written": rows} of a running job, as far as known."""
    return PROGRESS.get(job.pk)


def submission_import_job_create(
    *, uploaded_file, period: Period, user, mode: str, accept: bool, language: str
) -> SubmissionImportJob:
    """Store an uploaded file of paper filings as a queued job; enqueue it once committed."""
    from .tasks import run_submission_import_job  # the task module imports this one

    with transaction.atomic():
        job = SubmissionImportJob(
            original_name=PurePath(uploaded_file.name or "upload").name[:255],
            period=period,
            uploaded_by=user,
            mode=mode,
            accept=accept,
            language=language or settings.LANGUAGE_CODE,
        )
        job.file.save(uploaded_file.name or "upload", uploaded_file, save=False)
        job.save()
        job_id = job.pk
        # A worker must not look for a row that is not committed yet.
        transaction.on_commit(lambda: run_submission_import_job.delay(job_id))
    return job


def submission_import_job_run(*, job_id: int) -> SubmissionImportJob | None:
    """Run a queued paper-filing import to its end: succeeded, or failed with a message.

    Idempotent: a finished job is returned untouched; a job left "running" by a worker that
    died is run again. Whatever goes wrong, the job does not stay "running"
    (apps.core.jobs.run_file_import).
    """

    def do_import(job: SubmissionImportJob, data: bytes, on_progress):
        return submissions_import(data=data, filename=job.original_name, period=job.period, user=job.uploaded_by,
                                  mode=job.mode, accept=job.accept, on_progress=on_progress)

    def record(job: SubmissionImportJob, report) -> None:
        job.status = ImportJobStatus.SUCCEEDED if report.applied or (
            not report.errors and report.unchanged
        ) else ImportJobStatus.FAILED
        job.total_rows, job.skipped_count = report.total_rows, report.skipped
        job.created_count, job.updated_count = report.created, report.updated
        job.unchanged_count, job.accepted_count = report.unchanged, report.accepted
        job.applied = report.applied

    return run_file_import(
        SubmissionImportJob.objects.select_related("period", "uploaded_by"), job_id, progress=PROGRESS,
        do_import=do_import, record=record, file_errors=(SpreadsheetError,),
    )
