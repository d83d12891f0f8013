"""Policies, their measures and quantitative targets, support given to enterprises, and the
progress of every target computed from the published index runs.

A target names an index cell (kind + code) and a metric of it; its progress is never typed
in: :mod:`apps.policies.progress` computes it from each published run (recomputed when a
run is published or rolled back), keeping the full view and the public view apart.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.accounts.scoping import ScopedQuerySet
from apps.indices.models import CellKind


class PolicyLevel(models.TextChoices):
    NATIONAL = "national", _("国家级")
    PROVINCIAL = "provincial", _("省级")
    PREFECTURE = "prefecture", _("地市级")
    COUNTY = "county", _("区县级")


class PolicyStatus(models.TextChoices):
    PLANNED = "planned", _("计划中")
    IN_FORCE = "in_force", _("实施中")
    ENDED = "ended", _("已结束")
    SUPERSEDED = "superseded", _("已被替代")


class Instrument(models.TextChoices):
    SUBSIDY = "subsidy", _("资金补助")
    AWARD = "award", _("奖励")
    TAX = "tax", _("税收优惠")
    STANDARD = "standard", _("标准规范")
    SERVICE = "service", _("公共服务")
    PILOT = "pilot", _("试点示范")
    TRAINING = "training", _("培训")
    OTHER = "other", _("其他")


def validate_policy_attachment(value) -> None:
    """An attachment is checked by its bytes, like filing evidence (PDF, images, Office)."""
    from apps.filings.evidence import sniff_evidence

    sniff_evidence(value)


def policy_upload_to(instance, filename: str) -> str:
    return f"policies/{instance.issuing_body[:20]}/{filename}"


class Policy(models.Model):
    """One policy document (IEA Policies and Measures / OECD STIP Compass style record)."""

    title = models.CharField(_("政策名称"), max_length=300)
    doc_number = models.CharField(_("文号"), max_length=100, blank=True)
    issuing_body = models.CharField(_("发文机关"), max_length=200)
    level = models.CharField(_("层级"), max_length=12, choices=PolicyLevel.choices)
    region = models.ForeignKey(
        "reference.Region", verbose_name=_("地区"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="policies", help_text=_("国家级政策不填"),
    )
    issued_on = models.DateField(_("发布日期"))
    in_force_on = models.DateField(_("施行日期"), null=True, blank=True)
    expires_on = models.DateField(_("废止/到期日期"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=PolicyStatus.choices, default=PolicyStatus.IN_FORCE)
    superseded_by = models.ForeignKey(
        "self", verbose_name=_("被以下政策替代"), null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    instrument = models.CharField(_("政策工具"), max_length=10, choices=Instrument.choices)
    key_industries = models.ManyToManyField("reference.KeyIndustry", verbose_name=_("重点行业"), blank=True)
    dimensions = models.JSONField(_("涉及的评估维度"), default=list, blank=True, help_text=_("框架维度代码，如 D1"))
    text = models.TextField(_("政策全文"), blank=True)
    attachment = models.FileField(
        _("附件"), upload_to=policy_upload_to, blank=True, max_length=200, validators=[validate_policy_attachment]
    )
    link = models.URLField(_("原文链接"), blank=True)
    is_public = models.BooleanField(_("公开"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[key_industries], verbose_name=_("政策变更记录"))

    class Meta:
        verbose_name = _("政策")
        verbose_name_plural = _("政策")
        ordering = ["-issued_on", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["issuing_body", "doc_number"], condition=~Q(doc_number=""), name="doc_number_unique_per_issuer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title}（{self.doc_number}）" if self.doc_number else self.title

    @property
    def region_code(self) -> str:
        return self.region.code if self.region_id else ""

    def supersession_chain(self) -> list["Policy"]:
        """The policies this one replaced (oldest first), itself, then those replacing it."""
        before, seen = [], {self.pk}
        current = self
        while True:
            older = current.supersedes.exclude(pk__in=seen).order_by("issued_on").first()
            if older is None:
                break
            before.insert(0, older)
            seen.add(older.pk)
            current = older
        after, current = [], self
        while current.superseded_by_id and current.superseded_by_id not in seen:
            current = current.superseded_by
            seen.add(current.pk)
            after.append(current)
        return [*before, self, *after]


class Measure(models.Model):
    """A measure within a policy (e.g. 数字化改造补助, 诊断服务券)."""

    policy = models.ForeignKey(Policy, verbose_name=_("政策"), on_delete=models.CASCADE, related_name="measures")
    title = models.CharField(_("措施名称"), max_length=300)
    description = models.TextField(_("说明"), blank=True)
    instrument = models.CharField(_("政策工具"), max_length=10, choices=Instrument.choices, blank=True)
    history = HistoricalRecords(verbose_name=_("措施变更记录"))

    class Meta:
        verbose_name = _("政策措施")
        verbose_name_plural = _("政策措施")
        ordering = ["policy", "pk"]

    def __str__(self) -> str:
        return self.title


class Metric(models.TextChoices):
    MEAN = "mean", _("综合得分平均值")
    MEDIAN = "median", _("综合得分中位数")
    COVERAGE = "coverage", _("填报覆盖率（%）")
    LEVEL_SHARE = "level_share", _("达到某等级及以上的企业占比（%）")
    DEV_INDEX = "dev_index", _("发展指数")


class Comparison(models.TextChoices):
    AT_LEAST = "gte", _("不低于")
    AT_MOST = "lte", _("不高于")


class Target(models.Model):
    """A quantitative target on one metric of one index cell, e.g. “江苏 level ≥ 3 share ≥ 40 %
    by 2027”. Shares and coverage are in per cent; the target is due in the period that
    opens in ``target_year``."""

    measure = models.ForeignKey(Measure, verbose_name=_("措施"), on_delete=models.CASCADE, related_name="targets")
    metric = models.CharField(_("指标"), max_length=12, choices=Metric.choices)
    level_min = models.PositiveSmallIntegerField(_("等级下限"), null=True, blank=True, help_text=_("仅用于等级占比：1–5"))
    cell_kind = models.CharField(_("单元类型"), max_length=20, choices=CellKind.choices)
    cell_code = models.CharField(_("单元代码"), max_length=20)
    baseline_period = models.ForeignKey(
        "filings.Period", verbose_name=_("基期"), on_delete=models.PROTECT, related_name="+"
    )
    target_year = models.PositiveSmallIntegerField(_("目标年度"))
    comparison = models.CharField(_("比较方式"), max_length=3, choices=Comparison.choices, default=Comparison.AT_LEAST)
    value = models.FloatField(_("目标值"))
    history = HistoricalRecords(verbose_name=_("目标变更记录"))

    class Meta:
        verbose_name = _("目标")
        verbose_name_plural = _("目标")
        ordering = ["measure", "pk"]
        indexes = [models.Index(fields=["cell_kind", "cell_code"])]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.cell_kind}:{self.cell_code} {self.get_comparison_display()} {self.value:g}"

    def clean(self) -> None:
        from .services import target_check

        super().clean()
        target_check(metric=self.metric, level_min=self.level_min, cell_kind=self.cell_kind, cell_code=self.cell_code,
                     baseline_period=self.baseline_period if self.baseline_period_id else None,
                     target_year=self.target_year, comparison=self.comparison, value=self.value)

    @property
    def region_code(self) -> str:
        """The GB/T 2260 code of the cell's region ("" for industry-only cells)."""
        from apps.indices.readers import REGION_KINDS

        return self.cell_code.split("|", 1)[0] if self.cell_kind in REGION_KINDS else ""


class SupportRecordQuerySet(ScopedQuerySet):
    enterprise_path = "enterprise"


class SupportRecord(models.Model):
    """An enterprise received a measure on a date (and an amount, in 万元, when money)."""

    enterprise = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT, related_name="support_records"
    )
    measure = models.ForeignKey(Measure, verbose_name=_("措施"), on_delete=models.PROTECT, related_name="support_records")
    granted_on = models.DateField(_("支持日期"))
    amount = models.DecimalField(_("金额（万元）"), max_digits=12, decimal_places=2, null=True, blank=True)
    note = models.CharField(_("备注"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    history = HistoricalRecords(verbose_name=_("支持记录变更记录"))

    objects = SupportRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("支持记录")
        verbose_name_plural = _("支持记录")
        ordering = ["-granted_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "measure", "granted_on"], name="one_support_per_enterprise_measure_day"),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_id} ← {self.measure_id} {self.granted_on}"


class ProgressNote(models.Model):
    """A note by the responsible authority on a target's progress."""

    target = models.ForeignKey(Target, verbose_name=_("目标"), on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("填写人"), on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("进展说明"))
    created_at = models.DateTimeField(_("填写时间"), auto_now_add=True)
    history = HistoricalRecords(verbose_name=_("进展说明变更记录"))

    class Meta:
        verbose_name = _("进展说明")
        verbose_name_plural = _("进展说明")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:40]


class ProgressStatus(models.TextChoices):
    ACHIEVED = "achieved", _("已达成")
    ON_TRACK = "on_track", _("进度正常")
    AT_RISK = "at_risk", _("存在风险")
    OFF_TRACK = "off_track", _("进度滞后")
    NOT_ASSESSED = "not_assessed", _("无法评估")


class ProgressView(models.TextChoices):
    FULL = "full", _("完整数据")
    PUBLIC = "public", _("公开数据")


class TargetProgress(models.Model):
    """A target's progress as of one published run, in one view: ``full`` (the unsuppressed
    values, for readers inside the cell's jurisdiction) or ``public`` (the disclosure-safe
    view: a suppressed cell has no actual and ``hidden`` set). Written only by
    :func:`apps.policies.services.target_progress_recompute`."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="progress")
    run = models.ForeignKey("indices.IndexRun", on_delete=models.CASCADE, related_name="+")
    view = models.CharField(max_length=6, choices=ProgressView.choices)
    period_year = models.FloatField()
    actual = models.FloatField(null=True)
    hidden = models.BooleanField(default=False)
    hidden_reason = models.CharField(max_length=20, blank=True)
    baseline = models.FloatField(null=True)
    expected = models.FloatField(null=True)
    status = models.CharField(max_length=12, choices=ProgressStatus.choices)
    projection = models.FloatField(null=True)
    projection_low = models.FloatField(null=True)
    projection_high = models.FloatField(null=True)
    projection_points = models.PositiveSmallIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("目标进展")
        verbose_name_plural = _("目标进展")
        ordering = ["target", "view", "period_year"]
        constraints = [models.UniqueConstraint(fields=["target", "run", "view"], name="one_progress_per_target_run_view")]

    def __str__(self) -> str:
        return f"{self.target_id}@{self.run_id} {self.view}: {self.status}"
