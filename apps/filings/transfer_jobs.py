"""Paper-filing imports as background jobs: the upload is stored as a SubmissionImportJob and
a Celery worker runs :func:`apps.filings.transfer.submissions_import` on it, like the
enterprise import jobs (:mod:`apps.enterprises.imports`).

The job row is locked while the import runs, and the data and the job's result are committed
together: a second delivery of the task waits and then finds the job finished. While it
runs, the job records how many rows it has checked and written in the cache (the job's own
row is inside the import's transaction), which the job page shows.
"""

from __future__ import annotations

import logging
from pathlib import PurePath

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.core.spreadsheets import SpreadsheetError
from apps.enterprises.models import ImportJobStatus

from .models import Period, SubmissionImportJob
from .transfer import submissions_import

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 6 * 3600


def _progress_key(job_id: int) -> str:
    return f"submission-import-job:{job_id}:progress"


def submission_import_job_progress(job: SubmissionImportJob) -> dict:
    """{"checked": rows, "written": rows} of a running job, as far as known."""
    return cache.get(_progress_key(job.pk)) or {}


def _progress_set(job_id: int, stage: str, rows: int) -> None:
    progress = cache.get(_progress_key(job_id)) or {}
    progress[stage] = rows
    cache.set(_progress_key(job_id), progress, PROGRESS_SECONDS)


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


def _finish(job_id: int, message: str) -> None:
    SubmissionImportJob.objects.filter(pk=job_id).update(
        status=ImportJobStatus.FAILED, message=message, finished_at=timezone.now()
    )


def submission_import_job_run(*, job_id: int) -> SubmissionImportJob | None:
    """Run a queued paper-filing import to its end: succeeded, or failed with a message.

    Idempotent: a finished job is returned untouched; a job left "running" by a worker that
    died is run again. Whatever goes wrong, the job does not stay "running".
    """
    with transaction.atomic():
        job = SubmissionImportJob.objects.select_for_update().select_related("period", "uploaded_by").filter(pk=job_id).first()
        if job is None:
            logger.warning("submission import job %s does not exist", job_id)
            return None
        if job.is_finished:
            return job
        job.status, job.started_at = ImportJobStatus.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at"])

    done = False
    try:
        with translation.override(job.language):
            try:
                with job.file.open("rb") as fh:
                    data = fh.read()
            except OSError as exc:
                logger.warning("submission import job %s: cannot read %s: %s", job_id, job.file.name, exc)
                _finish(job_id, _("无法读取上传的文件（文件已不存在或无法访问），没有导入任何数据。请重新上传。"))
                done = True
                return SubmissionImportJob.objects.get(pk=job_id)
            try:
                with transaction.atomic():
                    locked = SubmissionImportJob.objects.select_for_update().get(pk=job_id)
                    if locked.is_finished:
                        done = True
                        return locked
                    report = submissions_import(
                        data=data, filename=job.original_name, period=job.period, user=job.uploaded_by,
                        mode=job.mode, accept=job.accept,
                        on_progress=lambda stage, rows: _progress_set(job_id, stage, rows),
                    )  # fmt: skip
                    locked.status = ImportJobStatus.SUCCEEDED if report.applied or (
                        not report.errors and report.unchanged
                    ) else ImportJobStatus.FAILED
                    locked.total_rows, locked.skipped_count = report.total_rows, report.skipped
                    locked.created_count, locked.updated_count = report.created, report.updated
                    locked.unchanged_count, locked.accepted_count = report.unchanged, report.accepted
                    locked.applied = report.applied
                    locked.errors = [e.as_dict() for e in report.errors]
                    locked.message = report.summary()
                    locked.finished_at = timezone.now()
                    locked.save()
            except SpreadsheetError as exc:
                _finish(job_id, exc.message)
            except PermissionDenied as exc:
                _finish(job_id, str(exc) or _("您没有导入权限。"))
            done = True
            return SubmissionImportJob.objects.get(pk=job_id)
    finally:
        if not done:
            # An unexpected error is on its way up to Celery, which logs it; the import's
            # transaction has been rolled back. Say so on the job page.
            with translation.override(job.language):
                _finish(job_id, _("导入过程中发生意外错误，没有写入任何数据。请稍后重试；如果反复出现，请联系管理员。"))
