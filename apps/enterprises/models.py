"""Enterprise profiles. Who may see a profile is decided by apps.accounts.scoping."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.accounts.scoping import ScopedQuerySet
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel
from apps.reference.size import SizeClass, classify_size

from .validators import normalise_uscc, validate_uscc


class EnterpriseQuerySet(ScopedQuerySet):
    enterprise_path = ""


class Enterprise(models.Model):
    """A manufacturing enterprise that files diagnoses. Identified by its USCC."""

    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validate_uscc])
    name = models.CharField(_("企业名称"), max_length=200)
    region = models.ForeignKey(
        Region, verbose_name=_("所在区县"), on_delete=models.PROTECT, related_name="enterprises"
    )
    # Denormalised from region so that a jurisdiction is one indexed equality filter.
    province_code = models.CharField(_("省级代码"), max_length=6, db_index=True, editable=False)
    prefecture_code = models.CharField(_("地级代码"), max_length=6, db_index=True, editable=False)
    county_code = models.CharField(_("县级代码"), max_length=6, db_index=True, editable=False)
    industry = models.ForeignKey(
        Industry, verbose_name=_("所属行业"), on_delete=models.PROTECT, related_name="enterprises"
    )
    division_code = models.CharField(_("行业大类代码"), max_length=2, db_index=True, editable=False)
    key_industries = models.ManyToManyField(
        KeyIndustry, verbose_name=_("重点行业"), blank=True, related_name="enterprises"
    )
    employees = models.PositiveIntegerField(_("从业人员（人）"))
    revenue = models.DecimalField(
        _("营业收入（万元）"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    size_class = models.CharField(_("企业规模"), max_length=8, choices=SizeClass.choices, editable=False, db_index=True)
    address = models.CharField(_("通讯地址"), max_length=300, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50)
    contact_phone = models.CharField(_("联系电话"), max_length=30)
    contact_email = models.EmailField(_("电子邮箱"), blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    history = HistoricalRecords(m2m_fields=[key_industries], verbose_name=_("企业信息变更记录"))
    objects = EnterpriseQuerySet.as_manager()

    class Meta:
        verbose_name = _("企业")
        verbose_name_plural = _("企业")
        ordering = ["name"]
        indexes = [models.Index(fields=["province_code", "division_code"])]

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
            if region.level != RegionLevel.COUNTY:
                errors["region"] = _("请选择到区县一级。")
            elif not region.is_active:
                errors["region"] = _("该区划代码已撤销，请选择现行区县。")
        if self.industry_id and self.industry.level not in (IndustryLevel.DIVISION, IndustryLevel.GROUP):
            errors["industry"] = _("请选择行业大类或中类。")
        if errors:
            raise ValidationError(errors)
