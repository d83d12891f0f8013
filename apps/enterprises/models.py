"""Enterprise profiles. Who may see a profile is decided by apps.accounts.scoping."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import connection, models
from django.db.models import Lookup, Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords
from stdnum.cn import uscc

from apps.accounts.scoping import ScopedQuerySet
from apps.core.models import FileImportJob
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region
from apps.reference.size import SizeClass, classify_size

from .validators import normalise_uscc, validate_uscc


class EnterpriseQuerySet(ScopedQuerySet):
    enterprise_path = ""


def enterprise_search_q(value: str, prefix: str = "") -> Q:
    """The search box of the enterprise lists: a USCC finds its enterprise, anything else
    is looked for in the names. ``prefix`` is the path to the enterprise ("enterprise" from
    a filing).

    USCCs are stored normalised (upper case, no spaces: ``Enterprise.save``, the forms and
    the import all write :func:`normalise_uscc`), so a code is an exact match on the unique
    index (0.07 ms on 100,000 enterprises); ``uscc__iexact`` and an OR with the name search
    made every search a sequential scan (100–145 ms, docs/PERFORMANCE.md).
    """
    p = f"{prefix}__" if prefix else ""
    code = normalise_uscc(value)
    if uscc.is_valid(code):  # a valid code (with its check character) is no name
        return Q(**{f"{p}uscc": code})
    value = value.strip()
    if 0 < len(value) <= 2 and connection.vendor == "postgresql":
        # one or two characters: pg_trgm has no trigram of them. The names holding those
        # characters (the ``chars`` lookup, an index, migration enterprises.0008) and, for
        # two, as a pair in that order (the substring test, on those names only)
        return Q(**{f"{p}name__chars": value}) & Q(**{f"{p}name__icontains": value})
    return Q(**{f"{p}name__icontains": value})


class NameChars(Lookup):
    """``name__chars="玄武"``: the name holds each of these characters (case-insensitive),
    asked of the generated column ``name_chars`` beside the name (the characters of
    UPPER(name), GIN-indexed; PostgreSQL only, migration enterprises.0008). Only
    :func:`enterprise_search_q` uses it, for searches of one or two characters."""

    lookup_name = "chars"

    def as_sql(self, compiler, connection):
        qn = connection.ops.quote_name
        chars = list(dict.fromkeys(str(self.rhs).upper()))
        # the column of the same row as the name: the name's table alias in this query
        return f"{qn(self.lhs.alias)}.{qn('name_chars')} @> %s::text[]", [chars]


class Enterprise(models.Model):
    """A manufacturing enterprise that files diagnoses. Identified by its USCC."""

    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validate_uscc])
    name = models.CharField(_("企业名称"), max_length=200)
    region = models.ForeignKey(
        Region, verbose_name=_("所在区县"), on_delete=models.PROTECT, related_name="enterprises", db_index=False
    )
    # Denormalised from region so that a jurisdiction is one indexed equality filter. The
    # indexes are declared in Meta.indexes, not with db_index: db_index on a CharField (or a
    # foreign key to a code) adds a second, varchar_pattern_ops index for LIKE queries that
    # nothing runs on these codes, and every index slows the bulk import (issue 13).
    province_code = models.CharField(_("省级代码"), max_length=6, editable=False)
    prefecture_code = models.CharField(_("地级代码"), max_length=6, editable=False)
    county_code = models.CharField(_("县级代码"), max_length=6, editable=False)
    industry = models.ForeignKey(
        Industry, verbose_name=_("所属行业"), on_delete=models.PROTECT, related_name="enterprises", db_index=False
    )
    division_code = models.CharField(_("行业大类代码"), max_length=2, editable=False)
    key_industries = models.ManyToManyField(
        KeyIndustry, verbose_name=_("重点行业"), blank=True, related_name="enterprises"
    )
    employees = models.PositiveIntegerField(_("从业人员（人）"))
    revenue = models.DecimalField(
        _("营业收入（万元）"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    size_class = models.CharField(_("企业规模"), max_length=8, choices=SizeClass.choices, editable=False)
    address = models.CharField(_("通讯地址"), max_length=300, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50)
    contact_phone = models.CharField(_("联系电话"), max_length=30)
    contact_email = models.EmailField(_("电子邮箱"), blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    # A self-registered enterprise counts in indices and coverage only once the county (or
    # prefecture) authority has confirmed it; imported and admin-created ones need no step.
    awaiting_confirmation = models.BooleanField(_("待主管部门确认"), default=False, db_default=False, db_index=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True, editable=False)
    confirmed_by = models.ForeignKey(
        "accounts.User", verbose_name=_("确认人"), null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+",
    )

    # The history table is read by enterprise (id) and date only: no index on the copied
    # columns (each one costs the import a write per row).
    history = HistoricalRecords(
        m2m_fields=[key_industries], verbose_name=_("企业信息变更记录"),
        no_db_index=["uscc", "awaiting_confirmation", "confirmed_by", "region", "industry"],
    )
    objects = EnterpriseQuerySet.as_manager()

    class Meta:
        verbose_name = _("企业")
        verbose_name_plural = _("企业")
        ordering = ["name"]
        indexes = [
            # also serves province_code alone (its leading column)
            models.Index(fields=["province_code", "division_code"]),
            models.Index(fields=["prefecture_code"], name="enterprise_prefecture_idx"),
            models.Index(fields=["county_code"], name="enterprise_county_idx"),
            models.Index(fields=["division_code"], name="enterprise_division_idx"),
            # foreign keys to reference codes (PROTECT checks); size_class has four values
            # and no index would be chosen for it
            models.Index(fields=["region"], name="enterprise_region_idx"),
            models.Index(fields=["industry"], name="enterprise_industry_idx"),
            # the index engine's chunk read (issue 13) looks up each filing's enterprise —
            # confirmed? which industry? — in this small index instead of hashing the
            # whole register once per chunk
            models.Index(fields=["id"], include=["industry"], condition=models.Q(awaiting_confirmation=False),
                         name="enterprise_confirmed_industry"),
            # the name search (enterprise_search_q): name__icontains is UPPER(name) LIKE
            # UPPER('%…%') on PostgreSQL; trigrams of that same expression let it use the
            # index instead of reading every enterprise (PostgreSQL only, pg_trgm)
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="enterprise_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.uscc = normalise_uscc(self.uscc)
        region = self.region
        self.province_code = region.province_code
        self.prefecture_code = region.prefecture_code
        self.county_code = region.code
        self.division_code = self.industry.division_code or self.industry.code[:2]
        self.size_class = classify_size(employees=self.employees, revenue_10k_yuan=self.revenue)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.uscc = normalise_uscc(self.uscc)
        errors = {}
        if self.region_id:
            region = self.region
            if not region.is_placeable:
                errors["region"] = _("请选择到区县一级。")
            elif not region.is_active:
                errors["region"] = _("该区划代码已撤销，请选择现行区县。")
        if self.industry_id and self.industry.level not in (IndustryLevel.DIVISION, IndustryLevel.GROUP):
            errors["industry"] = _("请选择行业大类或中类。")
        if errors:
            raise ValidationError(errors)


Enterprise._meta.get_field("name").register_lookup(NameChars)


# --- Bulk import jobs (apps.enterprises.imports / tasks / import_views) ---------------------

import uuid  # noqa: E402  (kept next to the import-job code it serves)
from pathlib import PurePath  # noqa: E402


class ImportEncoding(models.TextChoices):
    AUTO = "auto", _("自动识别（UTF-8 或 GBK）")
    UTF8 = "utf-8", _("UTF-8")
    GBK = "gbk", _("GBK / GB18030")


def import_upload_to(instance: "ImportJob", filename: str) -> str:
    """Store uploads under MEDIA_ROOT/imports/ with a random name.

    The clerk's file name is kept in ``original_name`` only: it may contain anything, and a
    random name cannot be guessed or collide.
    """
    suffix = PurePath(filename).suffix.lower()[:10]
    return f"imports/{uuid.uuid4().hex}{suffix}"


class ImportJobQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A user sees their own jobs; ministry staff and system admins see all of them
        (the rule: :func:`apps.accounts.permissions.import_jobs_visible_to`)."""
        from apps.accounts.permissions import import_jobs_visible_to

        return import_jobs_visible_to(self, user)


class ImportJob(FileImportJob):
    """One uploaded enterprise file, imported in the background by a Celery worker
    (apps.enterprises.imports.import_job_run)."""

    file = models.FileField(_("导入文件"), upload_to=import_upload_to, max_length=200)
    uploaded_by = models.ForeignKey(
        "accounts.User", verbose_name=_("上传人"), on_delete=models.PROTECT, related_name="import_jobs"
    )
    encoding = models.CharField(_("文件编码"), max_length=10, choices=ImportEncoding.choices, default=ImportEncoding.AUTO)
    detected_format = models.CharField(_("文件格式"), max_length=10, blank=True)
    detected_encoding = models.CharField(_("识别出的编码"), max_length=40, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta(FileImportJob.Meta):
        verbose_name = _("企业导入任务")
        verbose_name_plural = _("企业导入任务")
