"""Background exports of long enterprise lists (apps.insights.exports / tasks / views).

A list longer than ``INSIGHTS_EXPORT_SYNC_MAX_ROWS`` rows is not written while the browser
waits: an :class:`ExportJob` row records who asked for what (the list's filters), a Celery
worker writes the file under MEDIA_ROOT/exports/ and the job page polls its progress. The
file is served only to the user who asked for it.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import BackgroundJob


class ExportJobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("正在导出")
    SUCCEEDED = "succeeded", _("已完成")
    FAILED = "failed", _("导出失败")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"


def export_upload_to(instance: "ExportJob", filename: str) -> str:
    """A random name under MEDIA_ROOT/exports/: it cannot be guessed and never collides."""
    return f"exports/{uuid.uuid4().hex}.{instance.file_format}"


class ExportJob(BackgroundJob):
    """One enterprise list written to a file in the background for the user who asked."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.CASCADE, related_name="insight_exports"
    )
    file_format = models.CharField(_("文件格式"), max_length=4, choices=ExportFormat.choices)
    # The list's query string (period, region, industry, size, level, score range, status).
    params = models.JSONField(_("筛选条件"), default=dict, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=ExportJobStatus.choices, default=ExportJobStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0)
    total_rows = models.PositiveIntegerField(_("行数"), default=0)
    rows_done = models.PositiveIntegerField(_("已写入行数"), default=0)
    file = models.FileField(_("文件"), upload_to=export_upload_to, max_length=200, blank=True)
    filename = models.CharField(_("下载文件名"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)  # (asked for, not uploaded)

    class Meta(BackgroundJob.Meta):
        verbose_name = _("数据导出任务")
        verbose_name_plural = _("数据导出任务")

    def __str__(self) -> str:
        return f"#{self.pk} {self.filename or self.file_format}"

