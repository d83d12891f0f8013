"""Index runs and what they produce.

An :class:`IndexRun` computes, for one period, every enterprise's score and every
aggregate cell. It writes only its own rows; readers see a run's numbers only once staff
publish it, so a crash or a re-run never shows half a result. Exactly one run per period
may be queued or running, and at most one is published.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("计算中")
    SUCCEEDED = "succeeded", _("已完成")
    FAILED = "failed", _("失败")


class IndexRun(models.Model):
    period = models.ForeignKey("filings.Period", verbose_name=_("期次"), on_delete=models.PROTECT, related_name="index_runs")
    framework = models.ForeignKey("frameworks.Framework", verbose_name=_("框架版本"), on_delete=models.PROTECT, related_name="+")
    parameters = models.JSONField(_("参数"), default=dict)
    code_version = models.CharField(_("程序版本"), max_length=40)
    status = models.CharField(_("状态"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    submissions = models.PositiveIntegerField(_("参与计算的填报数"), default=0)
    cells = models.PositiveIntegerField(_("单元数"), default=0)
    suppressed_cells = models.PositiveIntegerField(_("隐藏单元数"), default=0)
    timings = models.JSONField(_("耗时（秒）"), default=dict, blank=True)
    error_log = models.TextField(_("错误信息"), blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    is_published = models.BooleanField(_("已发布"), default=False)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stale_since = models.DateTimeField(
        _("数据过时时间"), null=True, blank=True, help_text=_("发布后又有填报审核通过：部分单元数据已过时，待重新计算")
    )
    # when cells were last flagged stale (stale_since is the first time): part of the run's
    # version (readers.run_version), so every new flag reaches readers past their caches
    stale_marked_at = models.DateTimeField(_("最近标记过时时间"), null=True, blank=True, editable=False)
    # Provenance (issue 8): what produced the numbers. code_version holds the git commit
    # (or the release tag of PORTAL_CODE_VERSION outside git); ``provenance`` the library
    # and framework versions and the register edition; the two runs the join read.
    provenance = models.JSONField(_("来源信息"), default=dict, blank=True)
    previous_run = models.ForeignKey(
        "self", verbose_name=_("上期比较所用批次"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    base_run = models.ForeignKey(
        "self", verbose_name=_("基期批次"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Checks of what publishing the run would disclose (revision differencing, …), recorded
    # at the join and again when staff publish.
    audit = models.JSONField(_("发布审核"), default=dict, blank=True)

    class Meta:
        verbose_name = _("指数计算批次")
        verbose_name_plural = _("指数计算批次")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["period"], condition=Q(status__in=["queued", "running"]), name="one_active_run_per_period"
            ),
            models.UniqueConstraint(fields=["period"], condition=Q(is_published=True), name="one_published_run_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.label}，{self.get_status_display()}"

    @property
    def label(self) -> str:
        """The run in plain words, as the portal names it to people: the period and when it
        was started ("2026年度指数计算（2026-11-29 22:40 开始）"), never a "批次 #n"."""
        from django.utils import timezone
        from django.utils.translation import gettext

        started = timezone.localtime(self.created_at).strftime("%Y-%m-%d %H:%M") if self.created_at else ""
        return gettext("%(period)s指数计算（%(at)s 开始）") % {"period": self.period.label, "at": started}


class RunScore(models.Model):
    """One enterprise's score in a run (written in bulk; read back for panels)."""

    # No foreign-key constraint in the database (issue 13): a run writes its scores by COPY,
    # a whole chunk in one transaction that also locks the run's row, and Django deletes a
    # run's scores with the run (on_delete is carried out by the ORM, not the database). The
    # constraint's per-row check at commit cost as much as the COPY itself (170,000 rows:
    # 2.6 s COPY + 3.2 s commit against 2.7 s without it, at load 9). Nor an index of its own:
    # the unique index on (run, enterprise_id) serves every lookup by run. Nor one on
    # enterprise_id alone: nothing reads an enterprise's scores across runs, and each index
    # is written for every score of every run (migration 0015).
    run = models.ForeignKey(IndexRun, on_delete=models.CASCADE, related_name="scores", db_constraint=False,
                            db_index=False)
    chunk = models.PositiveIntegerField()
    submission_id = models.BigIntegerField()
    enterprise_id = models.BigIntegerField()
    composite = models.FloatField()
    level = models.PositiveSmallIntegerField()
    dimension_scores = models.BinaryField()  # float32, framework dimension order

    class Meta:
        verbose_name = _("企业得分")
        verbose_name_plural = _("企业得分")
        constraints = [models.UniqueConstraint(fields=["run", "enterprise_id"], name="one_score_per_enterprise_per_run")]

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.composite:.1f}"


class CellKind(models.TextChoices):
    NATION = "nation", _("全国")
    PROVINCE = "province", _("省级")
    PREFECTURE = "prefecture", _("地级")
    COUNTY = "county", _("县级")
    DIVISION = "division", _("行业大类")
    KEY_INDUSTRY = "key_industry", _("重点行业")
    SIZE = "size", _("企业规模")
    PROVINCE_DIVISION = "province_division", _("省级×行业")
    PREFECTURE_DIVISION = "prefecture_division", _("地级×行业")


class IndexCell(models.Model):
    """One aggregate cell of a run: the statistics of the composite score over the
    accepted filings that fall in it. Values are stored unsuppressed; ``suppressed`` and
    ``suppression_reason`` say what the public and other authorities must not see."""

    run = models.ForeignKey(IndexRun, on_delete=models.CASCADE, related_name="cell_rows")
    kind = models.CharField(max_length=20, choices=CellKind.choices)
    code = models.CharField(max_length=20)
    parent_code = models.CharField(max_length=20, blank=True)
    n = models.PositiveIntegerField()
    registered = models.PositiveIntegerField()
    coverage = models.FloatField(null=True)
    # Share of the cell's answers to the framework's common quantitative (KPI) indicators
    # marked 未统计 (not measured), so that "not measured" can be told from low maturity
    # (a not-measured KPI scores 0); non-response is the other side of ``coverage``.
    not_measured_share = models.FloatField(null=True)
    mean = models.FloatField(null=True)
    weighted_mean = models.FloatField(null=True)
    median = models.FloatField(null=True)
    p10 = models.FloatField(null=True)
    p25 = models.FloatField(null=True)
    p75 = models.FloatField(null=True)
    p90 = models.FloatField(null=True)
    std = models.FloatField(null=True)
    ci_low = models.FloatField(null=True)
    ci_high = models.FloatField(null=True)
    benchmark = models.FloatField(null=True)
    level_shares = models.JSONField(default=list)
    dimension_means = models.JSONField(default=dict)
    # {indicator code: mean over the cell's filings where it applies, 2 decimals; None
    # where it applies to none}; cells of kinds nation, province, prefecture, county and
    # division only ({} for the others and for cells without filings)
    indicator_means = models.JSONField(default=dict)
    rank = models.PositiveIntegerField(null=True)
    siblings = models.PositiveIntegerField(null=True)
    # 95 % interval of the rank (simulated, see apps.indices.aggregation._add_rank_intervals)
    rank_low = models.PositiveIntegerField(null=True)
    rank_high = models.PositiveIntegerField(null=True)
    prev_mean = models.FloatField(null=True)
    change = models.FloatField(null=True)
    prev_rank = models.PositiveIntegerField(null=True)
    rank_change = models.IntegerField(null=True)
    panel_n = models.PositiveIntegerField(null=True)
    panel_change = models.FloatField(null=True)
    dev_index = models.FloatField(null=True)
    performance_ratio = models.FloatField(null=True)
    performance_group = models.CharField(max_length=10, blank=True)
    suppressed = models.BooleanField(default=False)
    suppression_reason = models.CharField(max_length=20, blank=True)
    stale = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("指数单元")
        verbose_name_plural = _("指数单元")
        constraints = [models.UniqueConstraint(fields=["run", "kind", "code"], name="one_cell_per_key_per_run")]
        indexes = [models.Index(fields=["run", "kind", "parent_code"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.code}"


class RunChunk(models.Model):
    """A slice of a run's filings (a group of provinces) scored by one task. Finishing is
    recorded here, so a chunk delivered twice (a retry, a redelivered message after a
    worker died) is detected and the join happens exactly once."""

    run = models.ForeignKey(IndexRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    province_codes = models.JSONField(default=list)
    expected_rows = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    done = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Updated every few seconds by the worker while it scores the chunk (see
    # apps.indices.pipeline.chunk_heartbeat): the reaper re-runs only chunks whose worker
    # stopped reporting.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The chunk's per-county and per-division sums and counts of indicator scores
    # (an .npz, see apps.indices.pipeline.pack_indicator_sums); the join adds them up.
    indicator_sums = models.BinaryField(null=True)
    # What the join needs of the chunk's filings: their scores, recorded
    # codes, revenue, key-industry tags and 未统计 counts (np.savez, see
    # apps.indices.pipeline.pack_join_columns), written with the chunk's scores.
    join_columns = models.BinaryField(null=True)

    class Meta:
        verbose_name = _("计算分块")
        verbose_name_plural = _("计算分块")
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="one_chunk_per_index")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.index}"


class IndexBase(models.Model):
    """The base period of the development index (national index = 100), chosen once by
    staff and recorded; the current choice is the one row with ``active``. A run of the base
    period has national index exactly 100; a run of any other period divides by the
    national mean of the base period's published run (recorded as the run's base_run).
    If nobody has chosen when a run is first published, that run's period becomes the base,
    recorded with the user who published it."""

    period = models.ForeignKey("filings.Period", verbose_name=_("基期"), on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("当前基期"), default=True)
    chosen_at = models.DateTimeField(_("确定时间"), auto_now_add=True)
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("确定人"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("发展指数基期")
        verbose_name_plural = _("发展指数基期")
        ordering = ["-chosen_at"]
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_index_base")]

    def __str__(self) -> str:
        return str(self.period)


class RegisterSnapshot(models.Model):
    """The enterprise register as it stood for a period: taken at the period's first index
    run (or by staff when the period closes) and read by every later run of the period, so
    that ``registered``, coverage and key-industry tags do not move when enterprises move
    or register afterwards. ``data`` holds the register's columns (np.savez_compressed;
    see apps.indices.pipeline)."""

    period = models.OneToOneField("filings.Period", verbose_name=_("期次"), on_delete=models.PROTECT,
                                  related_name="register_snapshot")
    taken_at = models.DateTimeField(_("时间"), auto_now_add=True)
    enterprises = models.PositiveIntegerField(_("在册企业数"))
    digest = models.CharField(_("摘要"), max_length=64)
    data = models.BinaryField()

    class Meta:
        verbose_name = _("企业名录快照")
        verbose_name_plural = _("企业名录快照")

    def __str__(self) -> str:
        return f"{self.period} · {self.enterprises}"
