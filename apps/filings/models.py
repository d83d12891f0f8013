"""Periods (assessment campaigns), submissions, answers, evidence and the review trail.

A submission moves draft → submitted → (returned → submitted)* → accepted. Every
transition is a :class:`SubmissionEvent` written in the same transaction as the change
(see services.py). A submission keeps the framework version of its period for ever.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.review_rules import ReviewChain
from apps.accounts.scoping import ScopedQuerySet
from apps.core.language import localized
from apps.core.models import FileImportJob, TransitionEvent


class ReviewChainChoice(models.TextChoices):
    """Who decides a period's filings (the rules are in apps.accounts.review_rules)."""

    ONE_LEVEL = ReviewChain.ONE_LEVEL, _("一级审核：县级或地市级主管部门审核通过")
    TWO_LEVEL = ReviewChain.TWO_LEVEL, _("两级审核：县级初审转报，地市级审核通过")


class Period(models.Model):
    """An assessment campaign, e.g. 2026年度, using exactly one published framework version."""

    code = models.SlugField(_("代码"), max_length=20, unique=True, help_text=_("例如 2026"))
    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(
        _("英文名称"), max_length=100, blank=True, help_text=_("例如 2026 assessment；留空则英文界面也显示中文名称")
    )
    framework = models.ForeignKey(
        "frameworks.Framework", verbose_name=_("评估框架版本"), on_delete=models.PROTECT, related_name="periods"
    )
    opens_on = models.DateField(_("开始填报日期"))
    closes_on = models.DateField(_("截止填报日期"))
    closed_early = models.BooleanField(_("提前结束"), default=False)
    coverage_target = models.PositiveSmallIntegerField(
        _("覆盖率目标（%）"), default=60, validators=[MaxValueValidator(100)],
        help_text=_("各地辖区内企业审核通过的比例应达到的目标，显示在主管部门工作台"),
    )
    review_chain = models.CharField(
        _("审核层级"), max_length=3, choices=ReviewChainChoice.choices, default=ReviewChainChoice.ONE_LEVEL,
        help_text=_("两级审核时，县级主管部门初审转报后，由地市级（或以上）主管部门审核通过"),
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("填报期次")
        verbose_name_plural = _("填报期次")
        ordering = ["-opens_on"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The period's name in the active language (``name_en`` in English when set)."""
        return localized(self.name, self.name_en)

    def is_open(self, today=None) -> bool:
        today = today or timezone.localdate()
        return not self.closed_early and self.opens_on <= today <= self.closes_on


class SubmissionStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("待审核")
    RETURNED = "returned", _("退回修改")
    ACCEPTED = "accepted", _("审核通过")


class SubmissionQuerySet(ScopedQuerySet):
    enterprise_path = "enterprise"


class Submission(models.Model):
    """One enterprise's diagnosis for one period."""

    enterprise = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT, related_name="submissions"
    )
    period = models.ForeignKey(Period, verbose_name=_("期次"), on_delete=models.PROTECT, related_name="submissions")
    framework = models.ForeignKey(
        "frameworks.Framework", verbose_name=_("框架版本"), on_delete=models.PROTECT, related_name="submissions"
    )
    status = models.CharField(
        _("状态"), max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.DRAFT, db_index=True
    )
    # Bumped by every save of answers: a save that carries an older revision is a conflict.
    revision = models.PositiveIntegerField(_("修订号"), default=0)
    # Where the enterprise was when it filed (for review filters and index runs).
    province_code = models.CharField(max_length=6, db_index=True, blank=True)
    prefecture_code = models.CharField(max_length=6, db_index=True, blank=True)
    county_code = models.CharField(max_length=6, db_index=True, blank=True)
    division_code = models.CharField(max_length=2, db_index=True, blank=True)
    # The enterprise's industry (GB/T 4754 大类 or 中类) when it filed: which industry modules
    # apply to the filing in index runs of its period (issue 8). "" = not known (a filing
    # older than this field whose enterprise has since left the recorded division).
    industry_code = models.CharField(_("行业代码"), max_length=4, blank=True, default="", db_default="")
    size_class = models.CharField(max_length=8, blank=True)
    # Revenue (万元) of the enterprise when it filed: revenue weighting of the period's cells.
    revenue = models.DecimalField(_("营业收入（万元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    pledged_at = models.DateTimeField(_("真实性承诺时间"), null=True, blank=True)
    pledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    decided_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Two-level review chain: when (and by whom) the county passed the filing on to the
    # prefecture; cleared when the filing is returned or submitted again.
    passed_on_at = models.DateTimeField(_("初审转报时间"), null=True, blank=True)
    passed_on_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Answers packed in the framework's compiled indicator order (float32, NaN = missing),
    # written on submit: the index engine reads one row per submission, not one per answer.
    answer_vector = models.BinaryField(null=True, blank=True, editable=False)
    flags = models.JSONField(_("自动提示"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        verbose_name = _("诊断填报")
        verbose_name_plural = _("诊断填报")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "period"], name="one_submission_per_enterprise_period")
        ]
        indexes = [
            models.Index(fields=["period", "status"]),
            # The index engine's chunk read (issue 13): a chunk is a set of regions of one
            # period, and the heap holds filings in arrival order, so without this index every
            # chunk passed over nearly every page of the period. Ordered by region and holding
            # every column the chunk reads, it is read by an index-only scan of just the
            # chunk's range: PostgreSQL keeps it grouped by region as filings are accepted (no
            # CLUSTER, no table lock). Only accepted filings, which change rarely afterwards.
            # Size class and revenue are handed to the join by the chunk (issue 13), so they
            # are held too: without them every row of the scan fetched its heap page.
            models.Index(
                fields=["period", "province_code", "prefecture_code", "county_code"],
                include=["id", "enterprise", "division_code", "industry_code", "size_class", "revenue",
                         "answer_vector"],
                condition=models.Q(status="accepted"),
                name="submission_accepted_chunk",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise} · {self.period}"

    @property
    def is_editable_by_enterprise(self) -> bool:
        return self.status in (SubmissionStatus.DRAFT, SubmissionStatus.RETURNED)


class Answer(models.Model):
    """The answer to one indicator, in its natural form (see frameworks.scoring.encode_answers):
    rubric → level int, checklist → list of item codes, kpi → number, yesno → bool."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="answers")
    indicator = models.ForeignKey("frameworks.Indicator", on_delete=models.PROTECT, related_name="+")
    value = models.JSONField(_("答案"), null=True, blank=True)
    not_measured = models.BooleanField(_("未统计"), default=False, help_text=_("量化指标：企业未统计该数据"))
    note = models.TextField(_("说明"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("答案")
        verbose_name_plural = _("答案")
        constraints = [models.UniqueConstraint(fields=["submission", "indicator"], name="one_answer_per_indicator")]
        # the index run counts each period's 未统计 answers (apps.indices.services.not_measured_frame):
        # a partial index keeps that to the few marked rows instead of every answer
        indexes = [models.Index(fields=["submission"], condition=models.Q(not_measured=True),
                                name="answer_not_measured")]

    def __str__(self) -> str:
        return f"{self.indicator.code}={self.value!r}"


class EvidenceQuerySet(ScopedQuerySet):
    enterprise_path = "submission__enterprise"


def evidence_path(instance, filename: str) -> str:
    # The stored name is random: the original name is kept in the row, never trusted on disk.
    # Its extension is that of the type detected from the bytes, never the uploaded one.
    from .evidence import extension_for

    ext = extension_for(instance.content_type, instance.original_name)
    return f"evidence/{instance.submission_id}/{instance.sha256[:16]}-{timezone.now():%Y%m%d%H%M%S%f}{ext}"


class Evidence(models.Model):
    """An uploaded supporting document, stored outside the web root (MEDIA_ROOT is private)."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="evidence")
    indicator = models.ForeignKey("frameworks.Indicator", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=evidence_path, max_length=300)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=100)
    size = models.PositiveIntegerField(_("大小（字节）"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        verbose_name = _("证明材料")
        verbose_name_plural = _("证明材料")
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.original_name


class EventAction(models.TextChoices):
    CREATED = "created", _("创建草稿")
    SUBMITTED = "submitted", _("提交")
    RETURNED = "returned", _("退回修改")
    PASSED_ON = "passed_on", _("初审通过，转报上级")
    ACCEPTED = "accepted", _("审核通过")
    SCORED = "scored", _("完成评分")


class SubmissionEventQuerySet(ScopedQuerySet):
    enterprise_path = "submission__enterprise"


class SubmissionEvent(TransitionEvent):
    """One transition of a submission: who, when, why."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("操作"), max_length=10, choices=EventAction.choices)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    # On a return: the answers and evidence as they were, so that the next review can show
    # what changed since (apps.filings.review.changes_since_return). Null on other events
    # and on returns recorded before this was kept.
    snapshot = models.JSONField(null=True, blank=True, editable=False)

    objects = SubmissionEventQuerySet.as_manager()

    class Meta(TransitionEvent.Meta):
        verbose_name = _("填报记录")
        verbose_name_plural = _("填报记录")
        ordering = ["at", "pk"]


class ReturnReason(models.Model):
    """Why an indicator's answer was returned for correction."""

    event = models.ForeignKey(SubmissionEvent, on_delete=models.CASCADE, related_name="reasons")
    indicator = models.ForeignKey("frameworks.Indicator", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("退回原因"))

    class Meta:
        verbose_name = _("退回原因")
        verbose_name_plural = _("退回原因")

    def __str__(self) -> str:
        return self.reason[:50]


class SubmissionScore(models.Model):
    """The score of an accepted submission, reproducible from its answers, its framework
    version and the scoring code version recorded here."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="score")
    framework = models.ForeignKey("frameworks.Framework", on_delete=models.PROTECT, related_name="+")
    scoring_code_version = models.CharField(max_length=20)
    composite = models.FloatField(_("综合得分"))
    level = models.PositiveSmallIntegerField(_("等级"))
    dimension_scores = models.JSONField(_("维度得分"))
    indicator_scores = models.JSONField(_("指标得分"))
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("诊断得分")
        verbose_name_plural = _("诊断得分")

    def __str__(self) -> str:
        return f"{self.composite:.1f} (L{self.level})"


# --- Paper-filing import jobs (apps.filings.transfer_jobs / tasks / transfer_views) ------------


def submission_import_upload_to(instance: "SubmissionImportJob", filename: str) -> str:
    """Store uploads under MEDIA_ROOT/imports/submissions/ with a random name (the clerk's
    file name is kept in ``original_name`` only)."""
    import uuid
    from pathlib import PurePath

    return f"imports/submissions/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()[:10]}"


class SubmissionImportJob(FileImportJob):
    """One uploaded file of paper filings, imported in the background by a Celery worker
    (apps.filings.transfer_jobs.submission_import_job_run)."""

    file = models.FileField(_("导入文件"), upload_to=submission_import_upload_to, max_length=200)
    period = models.ForeignKey(Period, verbose_name=_("期次"), on_delete=models.PROTECT, related_name="import_jobs")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT, related_name="submission_import_jobs"
    )
    accept = models.BooleanField(_("同时审核通过"), default=False)
    accepted_count = models.PositiveIntegerField(_("同时审核通过"), default=0)
    applied = models.BooleanField(_("已写入"), default=False)

    class Meta(FileImportJob.Meta):
        verbose_name = _("纸质填报导入任务")
        verbose_name_plural = _("纸质填报导入任务")
