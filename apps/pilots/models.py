"""Pilot and demonstration selection (试点示范遴选).

A call (批次) runs 自主申报 → 地方推荐 → 资格审查 → 专家评审 → 答辩 → 公示 → 认定. Every change
of an application's status is an :class:`ApplicationEvent` (who, when, from, to, why), written
by :mod:`apps.pilots.services` in the same transaction as the change. Who may see an
application is decided in :mod:`apps.accounts` (``ScopedQuerySet`` for the enterprise and
staff, :mod:`apps.accounts.pilot_rules` for the recommending unit and experts).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.accounts.scoping import ScopedQuerySet
from apps.core.models import TransitionEvent

# A scenario write-up may hold at most this many characters, counted as the form counts them
# (Python characters after normalising line breaks to "\n", see forms/services).
SCENARIO_MAX_CHARS = 3000


class ScenarioLevel(models.TextChoices):
    LIFECYCLE = "lifecycle", _("产品全生命周期")
    VALUE_CHAIN = "value_chain", _("全价值链")
    INDUSTRY_CHAIN = "industry_chain", _("全产业链")


class Element(models.TextChoices):
    """人机料法环测: the six quality elements a scenario addresses."""

    MAN = "man", _("人")
    MACHINE = "machine", _("机")
    MATERIAL = "material", _("料")
    METHOD = "method", _("法")
    ENVIRONMENT = "environment", _("环")
    MEASUREMENT = "measurement", _("测")


class RubricScale(models.TextChoices):
    PERCENT = "0-100", _("0–100 分")
    FIVE = "1-5", _("1–5 分")


class Aggregation(models.TextChoices):
    TRIMMED_MEAN = "trimmed_mean", _("去掉最高最低分的平均分")
    MEDIAN = "median", _("中位数")


class CallStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    OPEN = "open", _("进行中")
    ANNOUNCED = "announced", _("已公布结果")


class Call(models.Model):
    """One selection call with its stage dates, scope, quotas and review rules."""

    title = models.CharField(_("批次名称"), max_length=200)
    year = models.PositiveSmallIntegerField(_("年度"))
    description = models.TextField(_("说明"), blank=True)
    key_industries = models.ManyToManyField(
        "reference.KeyIndustry", verbose_name=_("重点行业"), blank=True, related_name="pilot_calls"
    )
    scenario_levels = models.JSONField(_("场景层级"), default=list, help_text=_("产品全生命周期 / 全价值链 / 全产业链"))
    status = models.CharField(_("状态"), max_length=10, choices=CallStatus.choices, default=CallStatus.DRAFT)
    # Stage dates (inclusive). Each action is allowed only inside its own window.
    applications_open_on = models.DateField(_("申报开始日期"))
    applications_close_on = models.DateField(_("申报截止日期"))
    recommendation_closes_on = models.DateField(_("推荐截止日期"))
    eligibility_closes_on = models.DateField(_("资格审查截止日期"))
    review_closes_on = models.DateField(_("专家评审截止日期"))
    defence_required = models.BooleanField(_("需要答辩"), default=False)
    defence_closes_on = models.DateField(_("答辩截止日期"), null=True, blank=True)
    notice_starts_on = models.DateField(_("公示开始日期"))
    notice_ends_on = models.DateField(_("公示结束日期"))
    decision_on = models.DateField(_("认定日期"))
    quota_per_unit = models.PositiveSmallIntegerField(_("每个推荐单位的推荐名额"), default=5)
    industry_quotas = models.JSONField(
        _("各重点行业名额"), default=dict, blank=True, help_text=_("可选：{重点行业代码: 名额}，每个推荐单位适用")
    )
    rubric_scale = models.CharField(_("评分标度"), max_length=6, choices=RubricScale.choices, default=RubricScale.PERCENT)
    reviewers_per_application = models.PositiveSmallIntegerField(
        _("每份申报的评审专家数"), default=3, validators=[MinValueValidator(1), MaxValueValidator(15)]
    )
    aggregation = models.CharField(
        _("汇总方法"), max_length=14, choices=Aggregation.choices, default=Aggregation.TRIMMED_MEAN
    )
    disagreement_threshold = models.FloatField(
        _("分歧阈值"), default=20.0, help_text=_("评分极差（换算为百分制）超过该值时标记为分歧较大")
    )
    min_diagnosis_level = models.PositiveSmallIntegerField(_("诊断等级最低要求"), default=1)
    region_conflict = models.BooleanField(_("专家回避申报企业所在省份"), default=False)
    announced_at = models.DateTimeField(_("公布时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[key_industries], verbose_name=_("批次变更记录"))

    class Meta:
        verbose_name = _("遴选批次")
        verbose_name_plural = _("遴选批次")
        ordering = ["-year", "-applications_open_on"]

    def __str__(self) -> str:
        return self.title

    @property
    def scale_bounds(self) -> tuple[float, float]:
        return (1.0, 5.0) if self.rubric_scale == RubricScale.FIVE else (0.0, 100.0)

    def window(self, stage: str) -> tuple[datetime.date, datetime.date]:
        """First and last day of ``stage`` (application, recommendation, eligibility, review,
        defence, notice, decision)."""
        day = datetime.timedelta(days=1)
        defence_end = self.defence_closes_on or self.review_closes_on
        return {
            "application": (self.applications_open_on, self.applications_close_on),
            "recommendation": (self.applications_close_on + day, self.recommendation_closes_on),
            "eligibility": (self.recommendation_closes_on + day, self.eligibility_closes_on),
            "review": (self.eligibility_closes_on + day, self.review_closes_on),
            "defence": (self.review_closes_on + day, defence_end),
            "notice": (self.notice_starts_on, self.notice_ends_on),
            "decision": (self.notice_ends_on + day, datetime.date.max),
        }[stage]

    def in_window(self, stage: str, today: datetime.date | None = None) -> bool:
        today = today or timezone.localdate()
        start, end = self.window(stage)
        return start <= today <= end


class RubricCriterion(models.Model):
    """One criterion of a call's review rubric, weighted; scored on the call's scale."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="criteria")
    code = models.SlugField(_("代码"), max_length=20)
    name = models.CharField(_("评审要点"), max_length=200)
    weight = models.FloatField(_("权重"), validators=[MinValueValidator(0)])
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("评审要点")
        verbose_name_plural = _("评审要点")
        ordering = ["call", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["call", "code"], name="pilot_criterion_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已申报")
    WITHDRAWN = "withdrawn", _("已撤回")
    RETURNED = "returned", _("已退回")
    RECOMMENDED = "recommended", _("已推荐")
    ELIGIBLE = "eligible", _("资格审查通过")
    INELIGIBLE = "ineligible", _("资格审查未通过")
    REVIEWED = "reviewed", _("评审完成")
    PROPOSED = "proposed", _("拟入选（公示中）")
    SELECTED = "selected", _("入选")
    NOT_SELECTED = "not_selected", _("未入选")


class ApplicationQuerySet(ScopedQuerySet):
    enterprise_path = "enterprise"


class Application(models.Model):
    """An enterprise's application to a call, with its declarations and the outcome of every stage."""

    call = models.ForeignKey(Call, verbose_name=_("遴选批次"), on_delete=models.PROTECT, related_name="applications")
    enterprise = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT, related_name="pilot_applications"
    )
    # The pilot channel (apps.accounts.scoping.recommending_unit_for), fixed when the application starts.
    recommending_unit = models.ForeignKey(
        "reference.Region", verbose_name=_("推荐单位"), on_delete=models.PROTECT, related_name="+"
    )
    key_industry = models.ForeignKey(
        "reference.KeyIndustry", verbose_name=_("重点行业"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    employer_group = models.CharField(_("所属集团"), max_length=200, blank=True)
    status = models.CharField(
        _("状态"), max_length=14, choices=ApplicationStatus.choices, default=ApplicationStatus.DRAFT, db_index=True
    )
    revision = models.PositiveIntegerField(_("修订号"), default=0)
    # The diagnosis it rests on: the enterprise's accepted filing (score read from its
    # SubmissionScore / the published run's RunScore when the application is submitted).
    submission = models.ForeignKey(
        "filings.Submission", verbose_name=_("诊断填报"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    diagnosis_score = models.FloatField(_("诊断得分"), null=True, blank=True)
    diagnosis_level = models.PositiveSmallIntegerField(_("诊断等级"), null=True, blank=True)
    # Declarations (自我声明), each recorded with who and when.
    declares_legal_person = models.BooleanField(_("具有独立法人资格"), default=False)
    declares_good_credit = models.BooleanField(_("近三年信用良好"), default=False)
    declares_no_accident = models.BooleanField(_("近三年未发生重大安全、质量事故"), default=False)
    declared_at = models.DateTimeField(_("声明时间"), null=True, blank=True)
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(_("申报时间"), null=True, blank=True)
    recommend_rank = models.PositiveSmallIntegerField(_("推荐排序"), null=True, blank=True)
    eligibility_checks = models.JSONField(_("系统核验结果"), default=list, blank=True)
    eligibility_reason = models.TextField(_("资格审查意见"), blank=True)
    defence_score = models.FloatField(_("答辩得分"), null=True, blank=True)
    defence_note = models.TextField(_("答辩意见"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(verbose_name=_("申报变更记录"))
    objects = ApplicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("试点示范申报")
        verbose_name_plural = _("试点示范申报")
        ordering = ["call", "recommending_unit", "recommend_rank", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["call", "enterprise"], name="pilot_one_application_per_call"),
        ]
        indexes = [models.Index(fields=["call", "recommending_unit", "status"])]

    def __str__(self) -> str:
        return f"{self.enterprise} · {self.call}"


class Scenario(models.Model):
    """A typical scenario (典型场景) written up by the applicant."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="scenarios")
    title = models.CharField(_("场景名称"), max_length=200)
    level = models.CharField(_("场景层级"), max_length=16, choices=ScenarioLevel.choices)
    elements = models.JSONField(_("人机料法环测要素"), default=list)
    text = models.TextField(_("场景描述"))
    order = models.PositiveSmallIntegerField(default=0)

    history = HistoricalRecords(verbose_name=_("场景变更记录"))

    class Meta:
        verbose_name = _("申报场景")
        verbose_name_plural = _("申报场景")
        ordering = ["application", "order", "pk"]

    def __str__(self) -> str:
        return self.title


def attachment_path(instance, filename: str) -> str:
    return f"pilots/{instance.application.call_id}/{instance.application_id}/{timezone.now():%Y%m%d%H%M%S}-{filename[-80:]}"


class Attachment(models.Model):
    """A file attached to an application; its type is checked from its bytes (filings.evidence)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=100)
    size = models.PositiveIntegerField(_("大小（字节）"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("申报附件")
        verbose_name_plural = _("申报附件")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.original_name


class EventAction(models.TextChoices):
    CREATED = "created", _("创建")
    SUBMITTED = "submitted", _("提交申报")
    WITHDRAWN = "withdrawn", _("撤回申报")
    RETURNED = "returned", _("退回")
    RECOMMENDED = "recommended", _("推荐")
    ELIGIBLE = "eligible", _("资格审查通过")
    INELIGIBLE = "ineligible", _("资格审查未通过")
    REVIEWED = "reviewed", _("评审汇总")
    ADJUSTED = "adjusted", _("调整得分")
    DEFENDED = "defended", _("答辩")
    PROPOSED = "proposed", _("列入公示名单")
    SELECTED = "selected", _("认定入选")
    NOT_SELECTED = "not_selected", _("未入选")


class ApplicationEventQuerySet(ScopedQuerySet):
    enterprise_path = "application__enterprise"


class ApplicationEvent(TransitionEvent):
    """One transition of an application: who, when, from, to, why."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("操作"), max_length=14, choices=EventAction.choices)
    from_status = models.CharField(_("原状态"), max_length=14, blank=True)
    to_status = models.CharField(_("新状态"), max_length=14, blank=True)
    # When the applicant was mailed about this transition: a task delivered twice (broker
    # redelivery, a retry) finds it set and sends nothing.
    notified_at = models.DateTimeField(_("通知时间"), null=True, blank=True, editable=False)

    objects = ApplicationEventQuerySet.as_manager()

    class Meta(TransitionEvent.Meta):
        verbose_name = _("申报记录")
        verbose_name_plural = _("申报记录")
        ordering = ["application", "at", "pk"]


class Expert(models.Model):
    """A member of the expert pool (专家库)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("登录账号"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="expert_profile",
    )
    name = models.CharField(_("姓名"), max_length=50)
    employer = models.CharField(_("工作单位"), max_length=200)
    employer_group = models.CharField(_("所属集团"), max_length=200, blank=True)
    region = models.ForeignKey(
        "reference.Region", verbose_name=_("所在地区"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    key_industries = models.ManyToManyField(
        "reference.KeyIndustry", verbose_name=_("熟悉的重点行业"), blank=True, related_name="pilot_experts"
    )
    scenario_levels = models.JSONField(_("熟悉的场景层级"), default=list, blank=True)
    email = models.EmailField(_("电子邮箱"), blank=True)
    is_active = models.BooleanField(_("在库"), default=True)

    history = HistoricalRecords(m2m_fields=[key_industries], verbose_name=_("专家变更记录"))

    class Meta:
        verbose_name = _("评审专家")
        verbose_name_plural = _("评审专家")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name}（{self.employer}）"


class ConflictSource(models.TextChoices):
    DECLARED = "declared", _("专家申报")
    STAFF = "staff", _("工作人员认定")


class Conflict(models.Model):
    """A declared or found relation between an expert and an enterprise (回避关系).

    Same employer, same employer group and (when the call asks) the same province are found
    automatically (:func:`apps.pilots.assignment.conflict_reasons`); these rows hold the rest.
    """

    expert = models.ForeignKey(Expert, verbose_name=_("专家"), on_delete=models.CASCADE, related_name="conflicts")
    enterprise = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(_("来源"), max_length=10, choices=ConflictSource.choices)
    reason = models.CharField(_("原因"), max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(verbose_name=_("回避关系变更记录"))

    class Meta:
        verbose_name = _("回避关系")
        verbose_name_plural = _("回避关系")
        constraints = [models.UniqueConstraint(fields=["expert", "enterprise"], name="pilot_conflict_unique")]

    def __str__(self) -> str:
        return f"{self.expert} ↔ {self.enterprise}"


class AssignmentMethod(models.TextChoices):
    AUTO = "auto", _("自动分配")
    MANUAL = "manual", _("人工分配")
    SWAP = "swap", _("调换")


class Assignment(models.Model):
    """An expert assigned to review an application."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="assignments")
    expert = models.ForeignKey(Expert, on_delete=models.PROTECT, related_name="assignments")
    method = models.CharField(_("分配方式"), max_length=8, choices=AssignmentMethod.choices)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(verbose_name=_("评审分配变更记录"))

    class Meta:
        verbose_name = _("评审分配")
        verbose_name_plural = _("评审分配")
        ordering = ["application", "expert"]
        constraints = [models.UniqueConstraint(fields=["application", "expert"], name="pilot_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.expert} → {self.application}"


class Review(models.Model):
    """An expert's scores per rubric criterion and comment on one assigned application."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="review")
    scores = models.JSONField(_("各要点得分"), default=dict)
    comment = models.TextField(_("评审意见"), blank=True)
    # Weighted score on 0–100 (a 1–5 scale is mapped linearly), set on submit.
    total = models.FloatField(_("综合评分"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(verbose_name=_("评审意见变更记录"))

    class Meta:
        verbose_name = _("专家评审")
        verbose_name_plural = _("专家评审")

    def __str__(self) -> str:
        return str(self.assignment)


class AggregateResult(models.Model):
    """The robust score of an application over its submitted reviews, and any staff adjustment."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="result")
    method = models.CharField(_("汇总方法"), max_length=14, choices=Aggregation.choices)
    reviews = models.PositiveSmallIntegerField(_("评审数"))
    score = models.FloatField(_("汇总得分"))
    spread = models.FloatField(_("极差"))
    disagreement = models.BooleanField(_("分歧较大"), default=False)
    adjusted_score = models.FloatField(_("调整后得分"), null=True, blank=True)
    adjustment_reason = models.TextField(_("调整原因"), blank=True)
    adjusted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(verbose_name=_("评审结果变更记录"))

    class Meta:
        verbose_name = _("评审结果")
        verbose_name_plural = _("评审结果")

    def __str__(self) -> str:
        return f"{self.application}: {self.final_score:.1f}"

    @property
    def final_score(self) -> float:
        return self.adjusted_score if self.adjusted_score is not None else self.score


class DefenceSlot(models.Model):
    """A defence (答辩) session: when, where, which panel, which applications."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="defence_slots")
    starts_at = models.DateTimeField(_("开始时间"))
    place = models.CharField(_("地点"), max_length=200)
    panel = models.ManyToManyField(Expert, verbose_name=_("答辩专家组"), blank=True, related_name="+")
    applications = models.ManyToManyField(Application, verbose_name=_("答辩企业"), blank=True, related_name="defence_slots")

    history = HistoricalRecords(m2m_fields=[panel, applications], verbose_name=_("答辩安排变更记录"))

    class Meta:
        verbose_name = _("答辩安排")
        verbose_name_plural = _("答辩安排")
        ordering = ["call", "starts_at"]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M} {self.place}"


class ObjectionStatus(models.TextChoices):
    RECEIVED = "received", _("已收到")
    UPHELD = "upheld", _("异议成立")
    DISMISSED = "dismissed", _("异议不成立")


class Objection(models.Model):
    """An objection (异议) filed during the public notice. Never shown publicly."""

    call = models.ForeignKey(Call, on_delete=models.PROTECT, related_name="objections")
    application = models.ForeignKey(
        Application, verbose_name=_("异议对象"), on_delete=models.PROTECT, related_name="objections"
    )
    name = models.CharField(_("姓名"), max_length=50)
    organisation = models.CharField(_("工作单位"), max_length=200, blank=True)
    phone = models.CharField(_("联系电话"), max_length=30)
    email = models.EmailField(_("电子邮箱"), blank=True)
    text = models.TextField(_("异议内容"))
    submitted_at = models.DateTimeField(_("提交时间"), default=timezone.now)
    status = models.CharField(_("处理状态"), max_length=10, choices=ObjectionStatus.choices, default=ObjectionStatus.RECEIVED)
    handling = models.TextField(_("处理情况"), blank=True)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    handled_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    history = HistoricalRecords(verbose_name=_("异议变更记录"))

    class Meta:
        verbose_name = _("异议")
        verbose_name_plural = _("异议")
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"{self.name} → {self.application}"


# --- showcase cases (典型案例) ----------------------------------------------------------------------


def _check_file_bytes(f) -> None:
    from apps.filings.evidence import sniff_evidence

    sniff_evidence(f)


def _check_image_bytes(f) -> None:
    from django.core.exceptions import ValidationError

    from apps.filings.evidence import sniff_evidence

    if not sniff_evidence(f).startswith("image/"):
        raise ValidationError(_("图片只能是 PNG、JPEG 或 WebP。"))


class CaseStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    REVIEW = "review", _("待审核")
    PUBLISHED = "published", _("已发布")


class CaseQuerySet(models.QuerySet):
    def published(self):
        """Published cases, newest first, without the search columns (large, never shown)."""
        return self.filter(status=CaseStatus.PUBLISHED).defer("search_text", "search_vector").order_by("-published_at", "-pk")


class Case(models.Model):
    """A showcase case: from a selected application (with the enterprise's consent recorded)
    or entered by staff. Published cases are public; ``search_vector`` is kept for
    PostgreSQL full-text search over ``search_text`` (Chinese split into bigrams, see
    apps.pilots.search)."""

    title = models.CharField(_("案例标题"), max_length=200)
    enterprise = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("企业"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enterprise_display = models.CharField(
        _("展示的企业名称"), max_length=200, help_text=_("匿名时填写如“某电子制造企业”")
    )
    anonymised = models.BooleanField(_("匿名展示"), default=False)
    scenario_level = models.CharField(_("场景层级"), max_length=16, choices=ScenarioLevel.choices)
    key_industry = models.ForeignKey(
        "reference.KeyIndustry", verbose_name=_("重点行业"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    industry = models.ForeignKey(
        "reference.Industry", verbose_name=_("国民经济行业（大类）"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    elements = models.JSONField(_("人机料法环测要素"), default=list, blank=True)
    region = models.ForeignKey(
        "reference.Region", verbose_name=_("所在地区"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    province_code = models.CharField(_("省级代码"), max_length=6, blank=True, db_index=True, editable=False)
    problem = models.TextField(_("面临的问题"))
    solution = models.TextField(_("解决方案"))
    results = models.JSONField(
        _("实施成效"), default=list, blank=True, help_text=_("[{指标, 实施前, 实施后, 单位}]")
    )
    image = models.FileField(_("图片"), upload_to="cases/images/", blank=True, validators=[_check_image_bytes])
    attachment = models.FileField(_("附件"), upload_to="cases/files/", blank=True, validators=[_check_file_bytes])
    status = models.CharField(_("状态"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.DRAFT, db_index=True)
    source_application = models.ForeignKey(
        Application, verbose_name=_("来源申报"), null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    consent_at = models.DateTimeField(_("企业同意时间"), null=True, blank=True)
    consent_note = models.CharField(_("同意方式"), max_length=300, blank=True)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    search_text = models.TextField(editable=False, blank=True)
    # tsvector on PostgreSQL (GIN index created by migration there only); unused on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    history = HistoricalRecords(verbose_name=_("案例变更记录"), excluded_fields=["search_text", "search_vector"])
    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("典型案例")
        verbose_name_plural = _("典型案例")
        ordering = ["-published_at", "-pk"]
        indexes = [models.Index(fields=["status", "-published_at", "-id"], name="pilots_case_published_idx")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        from .search import case_search_text, search_vector

        self.province_code = self.region.province_code if self.region_id else ""
        self.search_text = case_search_text(self)
        super().save(*args, **kwargs)
        if connection.vendor == "postgresql":
            Case.objects.filter(pk=self.pk).update(search_vector=search_vector())

    @property
    def element_labels(self) -> list[str]:
        return [Element(e).label for e in self.elements or [] if e in Element.values]
