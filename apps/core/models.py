"""Platform health rows, and the abstract records that several apps share: workflow
transitions and background jobs (imports and exports a Celery worker runs for one user)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TransitionEvent(models.Model):
    """One recorded transition of a workflow object: who (``actor``), when (``at``) and why
    (``note``). A subclass adds the object it belongs to and ``action`` / ``from_status`` /
    ``to_status`` with its own choices and lengths (filings.SubmissionEvent,
    pilots.ApplicationEvent). Abstract: no table of its own."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("时间"), default=timezone.now)
    note = models.TextField(_("说明"), blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("全部或全不：有任何错误行则不写入任何数据")
    VALID_ROWS_ONLY = "valid_rows_only", _("只写入正确的行：跳过并报告错误行")


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("正在导入")
    SUCCEEDED = "succeeded", _("已完成")
    FAILED = "failed", _("未导入")


class BackgroundJob(models.Model):
    """Work a Celery worker does in the background for one user: when it was asked for,
    started and finished, the language its messages are written in and the message that
    says how it ended. A subclass adds ``status`` (choices with the values queued, running,
    succeeded, failed; labels that name its kind of work), who asked and what it works on.
    :mod:`apps.core.jobs` claims, fails and counts the progress of any such job. Abstract."""

    FINISHED = ("succeeded", "failed")

    # Messages of the job are written in the language of the user who asked, at that time.
    language = models.CharField(_("语言"), max_length=10, default="zh-hans")
    message = models.TextField(_("结果说明"), blank=True)
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class FileImportJob(BackgroundJob):
    """An uploaded spreadsheet imported in the background (enterprises.ImportJob,
    filings.SubmissionImportJob): how, with what result per row, and every bad line. A
    subclass adds the file (its own upload folder) and the uploader. Abstract."""

    original_name = models.CharField(_("原文件名"), max_length=255)
    mode = models.CharField(_("导入方式"), max_length=20, choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)
    status = models.CharField(
        _("状态"), max_length=10, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED, db_index=True
    )
    total_rows = models.PositiveIntegerField(_("数据行数"), default=0)
    created_count = models.PositiveIntegerField(_("新增"), default=0)
    updated_count = models.PositiveIntegerField(_("更新"), default=0)
    unchanged_count = models.PositiveIntegerField(_("未变化"), default=0)
    skipped_count = models.PositiveIntegerField(_("跳过（错误行）"), default=0)
    errors = models.JSONField(_("错误报告"), default=list, blank=True)

    class Meta(BackgroundJob.Meta):
        abstract = True

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name}"


class Heartbeat(models.Model):
    """When a component last proved it was alive (``worker``: a Celery worker ran the
    scheduled heartbeat task, which needs the broker, a worker and the database)."""

    name = models.CharField(_("组件"), max_length=40, unique=True)
    at = models.DateTimeField(_("最近一次"))

    class Meta:
        verbose_name = _("心跳")
        verbose_name_plural = _("心跳")

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"
