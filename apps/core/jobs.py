"""Running background jobs (:class:`apps.core.models.BackgroundJob`): the enterprise and
paper-filing imports (:class:`~apps.core.models.FileImportJob`) and the list exports.

Every job is run the same way, whatever it does:

* :func:`job_claim` locks the job's row and marks it running; a job that is already
  finished is returned untouched (a second delivery of the task does nothing), and one
  left "running" by a worker that died is simply run again;
* :func:`job_fail` ends it with a message the user can act on;
* :class:`JobProgress` keeps how far a running job is in the cache (shared between web and
  worker processes when CACHE_URL points to Redis, as production requires): an import runs
  inside the transaction that holds its job row, so the row itself cannot say it.

:func:`run_file_import` is the whole run of an uploaded spreadsheet: read the stored file,
import it and record the result in one transaction under a lock on the job row (the data
and the job's result are committed together), and whatever goes wrong, the job does not
stay "running".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 6 * 3600  # how long a job's row counter is kept


def job_claim(queryset: models.QuerySet, job_id: int, **running) -> tuple[models.Model | None, bool]:
    """Lock job ``job_id`` of ``queryset`` and mark it running (with ``running``'s extra
    field values). Returns (job, True) to go on; (the finished job, False) when another
    delivery already ran it; (None, False) when there is no such job."""
    with transaction.atomic():
        job = queryset.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("%s %s does not exist", queryset.model._meta.model_name, job_id)
            return None, False
        if job.is_finished:
            return job, False
        job.status, job.started_at = "running", timezone.now()
        for name, value in running.items():
            setattr(job, name, value)
        job.save(update_fields=["status", "started_at", *running])
    return job, True


def job_fail(model: type[models.Model], job_id: int, message: str, **values) -> None:
    """End job ``job_id`` as failed with ``message`` (and ``values``)."""
    model.objects.filter(pk=job_id).update(status="failed", message=message, finished_at=timezone.now(), **values)


class JobProgress:
    """Row counters of running jobs of one kind (``prefix``), by stage ("checked",
    "written"), in the cache."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def _key(self, job_id: int) -> str:
        return f"{self.prefix}:{job_id}:progress"

    def set(self, job_id: int, stage: str, rows: int) -> None:
        progress = cache.get(self._key(job_id)) or {}
        progress[stage] = rows
        cache.set(self._key(job_id), progress, PROGRESS_SECONDS)

    def get(self, job_id: int) -> dict:
        """{"checked": rows, "written": rows} of a running job, as far as known."""
        return cache.get(self._key(job_id)) or {}


def run_file_import(
    queryset: models.QuerySet,
    job_id: int,
    *,
    progress: JobProgress,
    do_import: Callable,
    record: Callable,
    file_errors: tuple[type[Exception], ...],
):
    """Run the queued spreadsheet import ``job_id`` of ``queryset`` to its end: succeeded, or
    failed with a message. ``do_import(job, data, on_progress)`` imports the file's bytes and
    returns its report; ``record(job, report)`` sets the job's result fields from it (status
    included) — both inside one transaction that holds the lock on the job row. An error of
    ``file_errors`` (the file cannot be read as a table; its ``message`` says why) or a
    refused permission fails the job with that message; anything else fails it with a
    general message and goes on up to Celery, which logs it. Idempotent (:func:`job_claim`)."""
    model = queryset.model
    job, go_on = job_claim(queryset, job_id)
    if not go_on:
        return job
    done = False
    try:
        with translation.override(job.language):
            try:
                with job.file.open("rb") as fh:
                    data = fh.read()
            except OSError as exc:
                logger.warning("%s %s: cannot read %s: %s", model._meta.model_name, job_id, job.file.name, exc)
                job_fail(model, job_id, _("无法读取上传的文件（文件已不存在或无法访问），没有导入任何数据。请重新上传。"))
                done = True
                return model.objects.get(pk=job_id)
            try:
                with transaction.atomic():
                    locked = model.objects.select_for_update().get(pk=job_id)
                    if locked.is_finished:
                        done = True
                        return locked
                    report = do_import(job, data, lambda stage, rows: progress.set(job_id, stage, rows))
                    record(locked, report)
                    locked.errors = [e.as_dict() for e in report.errors]
                    locked.message = report.summary()
                    locked.finished_at = timezone.now()
                    locked.save()
            except file_errors as exc:
                job_fail(model, job_id, exc.message)
            except PermissionDenied as exc:
                job_fail(model, job_id, str(exc) or _("您没有导入权限。"))
            done = True
            return model.objects.get(pk=job_id)
    finally:
        if not done:
            # An unexpected error (or a time limit) is on its way up to Celery, which logs
            # it; the import's transaction has been rolled back. Say so on the job page.
            with translation.override(job.language):
                job_fail(model, job_id, _("导入过程中发生意外错误，没有写入任何数据。请稍后重试；如果反复出现，请联系管理员。"))
