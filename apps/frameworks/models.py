"""The assessment framework: data, not code, and versioned.

A ``Framework`` row is one *version* of the portal's diagnosis model: dimensions with
weights, indicators of four kinds with their scoring rules, a five-level result scale,
and optional industry modules. A period (campaign) uses exactly one published version and
a submission keeps the version it was filed under, so a published version is frozen:
staff change the model by drafting a new version (``framework_copy``), validating and
publishing it. See docs/METHOD.md for the scoring method.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.language import localized


class FrameworkStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("已发布")
    RETIRED = "retired", _("已停用")


class Framework(models.Model):
    """One version of the assessment framework."""

    code = models.SlugField(_("框架代码"), max_length=40, help_text=_("同一框架各版本共用，例如 qmd"))
    version = models.CharField(_("版本号"), max_length=20, help_text=_("例如 2026.1"))
    name = models.CharField(_("名称"), max_length=200)
    description = models.TextField(_("说明"), blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=FrameworkStatus.choices, default=FrameworkStatus.DRAFT)
    based_on = models.ForeignKey(
        "self", verbose_name=_("复制自"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("发布人"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评估框架版本")
        verbose_name_plural = _("评估框架版本")
        ordering = ["code", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="framework_code_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_editable(self) -> bool:
        return self.status == FrameworkStatus.DRAFT


class Dimension(models.Model):
    """A first-level part of the framework with its weight in the composite score."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="dimensions")
    code = models.CharField(_("代码"), max_length=10)
    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=120, blank=True)
    description = models.TextField(_("说明"), blank=True)
    weight = models.DecimalField(_("权重"), max_digits=6, decimal_places=4, help_text=_("各维度权重之和为 1"))
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("维度")
        verbose_name_plural = _("维度")
        ordering = ["framework", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["framework", "code"], name="dimension_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def label(self) -> str:
        """The name in the active language (``name_en`` in English when the framework has it)."""
        return localized(self.name, self.name_en)


class IndustryModule(models.Model):
    """Indicators that apply only to enterprises of some industries (e.g. 生物医药)."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="modules")
    code = models.SlugField(_("代码"), max_length=40)
    name = models.CharField(_("名称"), max_length=100)
    industries = models.ManyToManyField("reference.Industry", verbose_name=_("适用行业"), blank=True)
    key_industries = models.ManyToManyField("reference.KeyIndustry", verbose_name=_("适用重点行业"), blank=True)

    class Meta:
        verbose_name = _("行业模块")
        verbose_name_plural = _("行业模块")
        constraints = [models.UniqueConstraint(fields=["framework", "code"], name="module_code_unique")]

    def __str__(self) -> str:
        return self.name


class IndicatorKind(models.TextChoices):
    RUBRIC = "rubric", _("分级描述（0–5级）")
    CHECKLIST = "checklist", _("清单（多选加权）")
    KPI = "kpi", _("量化指标")
    YESNO = "yesno", _("是/否")


class Direction(models.TextChoices):
    HIGHER = "higher", _("越高越好")
    LOWER = "lower", _("越低越好")


class Indicator(models.Model):
    """A question of the diagnosis and how its answer is scored (0–100).

    * rubric — the answer is a level 0–5, each with a descriptor; score = level × 20;
    * checklist — several items, each with a weight; score = share of weight checked;
    * kpi — a number with a unit; score = piecewise-linear interpolation over
      ``thresholds`` ([[value, score], ...], values ascending), clamped at both ends;
      answers outside [min_value, max_value] are refused;
    * yesno — yes = 100, no = 0; a *key* item (``evidence_required``) needs evidence for yes.
    """

    framework = models.ForeignKey(Framework, verbose_name=_("框架版本"), on_delete=models.CASCADE, related_name="indicators")
    dimension = models.ForeignKey(Dimension, verbose_name=_("维度"), on_delete=models.CASCADE, related_name="indicators")
    module = models.ForeignKey(
        IndustryModule, verbose_name=_("行业模块"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="indicators",
    )
    code = models.CharField(_("代码"), max_length=20)
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)
    kind = models.CharField(_("类型"), max_length=10, choices=IndicatorKind.choices)
    question = models.TextField(_("问题"))
    question_en = models.TextField(_("英文问题"), blank=True)
    guidance = models.TextField(_("填报说明"), blank=True)
    # A question that asks the enterprise to explain something ("在说明中注明") says what in
    # ``note_prompt``; the filing form then shows a 说明 box for it (Answer.note). Empty: no box.
    note_prompt = models.CharField(
        _("说明提示"), max_length=200, blank=True,
        help_text=_("填写后，填报页为本题显示“说明”文本框，并以此作为提示，例如：未单独核算质量成本的，请说明估算方法"),
    )
    weight = models.DecimalField(_("维度内权重"), max_digits=6, decimal_places=4)
    # numeric KPI
    unit = models.CharField(_("单位"), max_length=30, blank=True)
    direction = models.CharField(_("方向"), max_length=6, choices=Direction.choices, blank=True)
    min_value = models.FloatField(_("允许最小值"), null=True, blank=True)
    max_value = models.FloatField(_("允许最大值"), null=True, blank=True)
    thresholds = models.JSONField(_("评分分段"), default=list, blank=True)
    # evidence
    evidence_required = models.BooleanField(
        _("关键项（选“是”须上传证明材料）"), default=False
    )
    evidence_from_level = models.PositiveSmallIntegerField(
        _("达到该级别须附证明材料"), null=True, blank=True, help_text=_("分级描述类指标，例如 4 表示选4级及以上须附材料")
    )

    class Meta:
        verbose_name = _("指标")
        verbose_name_plural = _("指标")
        ordering = ["framework", "dimension__order", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["framework", "code"], name="indicator_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.question[:40]}"

    @property
    def question_text(self) -> str:
        """The question in the active language (``question_en`` in English when the framework has it)."""
        return localized(self.question, self.question_en)


class RubricLevel(models.Model):
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="rubric_levels")
    level = models.PositiveSmallIntegerField(_("级别"))
    descriptor = models.TextField(_("级别描述"))

    class Meta:
        verbose_name = _("分级描述")
        verbose_name_plural = _("分级描述")
        ordering = ["indicator", "level"]
        constraints = [models.UniqueConstraint(fields=["indicator", "level"], name="rubric_level_unique")]

    def __str__(self) -> str:
        return f"{self.level}: {self.descriptor[:30]}"


class ChecklistItem(models.Model):
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="checklist_items")
    code = models.CharField(_("代码"), max_length=20)
    label = models.CharField(_("内容"), max_length=300)
    weight = models.DecimalField(_("权重"), max_digits=6, decimal_places=4)
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("清单项")
        verbose_name_plural = _("清单项")
        ordering = ["indicator", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["indicator", "code"], name="checklist_item_unique")]

    def __str__(self) -> str:
        return self.label


class MaturityLevel(models.Model):
    """A step of the five-level result scale: reached when the composite score is at least
    ``min_composite`` AND every dimension scores at least ``min_dimension``."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="levels")
    rank = models.PositiveSmallIntegerField(_("等级"))
    name = models.CharField(_("名称"), max_length=20)
    name_en = models.CharField(_("英文名称"), max_length=40, blank=True)
    description = models.TextField(_("说明"), blank=True)
    min_composite = models.FloatField(_("综合得分下限"))
    min_dimension = models.FloatField(_("各维度得分下限"))

    class Meta:
        verbose_name = _("等级")
        verbose_name_plural = _("等级")
        ordering = ["framework", "rank"]
        constraints = [models.UniqueConstraint(fields=["framework", "rank"], name="maturity_rank_unique")]

    def __str__(self) -> str:
        return f"L{self.rank} {self.name}"

    @property
    def label(self) -> str:
        """The level's name in the active language (``name_en`` in English when the framework has it)."""
        return localized(self.name, self.name_en)
