"""django-import-export resources of the policies app.

:class:`SupportRecordResource` reads support files (columns 统一社会信用代码, 措施编号,
支持日期, 金额（万元）, 备注) for the portal page and the admin: an enterprise is looked up
by USCC *among the enterprises the importing user may see* — one outside the jurisdiction
gets the same message as an unknown code, so a file cannot probe for other regions'
enterprises. The other resources export/import policies, measures and targets in the admin.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from apps.enterprises.models import Enterprise
from apps.enterprises.validators import normalise_uscc

from .models import Measure, Policy, SupportRecord, Target

USCC = "统一社会信用代码"
ENTERPRISE_NAME = "企业名称"
MEASURE = "措施编号"
GRANTED_ON = "支持日期"
AMOUNT = "金额（万元）"
NOTE = "备注"
SUPPORT_COLUMNS = (USCC, MEASURE, GRANTED_ON, AMOUNT, NOTE)
SUPPORT_REQUIRED = (USCC, GRANTED_ON)


class ScopedEnterpriseWidget(widgets.ForeignKeyWidget):
    """USCC → enterprise among those ``user`` may see (``user=None``: all, for commands)."""

    def __init__(self, user=None):
        super().__init__(Enterprise, field="uscc")
        self.user = user

    def get_queryset(self, value, row, *args, **kwargs):
        qs = Enterprise.objects.all()
        return qs.visible_to(self.user) if self.user is not None else qs

    def clean(self, value, row=None, **kwargs):
        code = normalise_uscc(value or "")
        if not code:
            raise ValueError(_("统一社会信用代码为空。"))
        found = self.get_queryset(value, row).filter(uscc=code).first()
        if found is None:
            raise ValueError(_("未找到统一社会信用代码为 %(uscc)s 的企业，或该企业不在您的管辖范围内。") % {"uscc": code})
        return found


class MeasureWidget(widgets.ForeignKeyWidget):
    def __init__(self, measure=None, measures=None):
        super().__init__(Measure, field="pk")
        self.fixed, self.measures = measure, measures

    def clean(self, value, row=None, **kwargs):
        if self.fixed is not None:
            return self.fixed
        try:
            pk = int(str(value).strip())
        except ValueError:
            raise ValueError(_("措施编号“%(value)s”不是数字。") % {"value": value}) from None
        qs = self.measures if self.measures is not None else Measure.objects.all()
        found = qs.filter(pk=pk).first()
        if found is None:
            raise ValueError(_("措施编号 %(value)s 不存在，或您无权登记该措施的支持记录。") % {"value": pk})
        return found


class ChineseDateWidget(widgets.Widget):
    FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        text = str(value or "").strip()
        if not text:
            raise ValueError(_("支持日期为空。"))
        for fmt in self.FORMATS:
            try:
                return datetime.datetime.strptime(text[:19].split("T")[0].split(" ")[0], fmt).date()
            except ValueError:
                continue
        raise ValueError(_("支持日期“%(value)s”无法识别，请写成 2026-03-15 的形式。") % {"value": text})

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


class AmountWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip().replace(",", "").replace("，", "")
        if not text:
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("金额“%(value)s”不是数字（单位：万元）。") % {"value": text}) from None
        if amount < 0:
            raise ValueError(_("金额不能为负数。"))
        return amount.quantize(Decimal("0.01"))

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class SupportRecordResource(resources.ModelResource):
    enterprise = fields.Field(attribute="enterprise", column_name=USCC)
    enterprise_name = fields.Field(attribute="enterprise__name", column_name=ENTERPRISE_NAME, readonly=True)
    measure = fields.Field(attribute="measure", column_name=MEASURE)
    granted_on = fields.Field(attribute="granted_on", column_name=GRANTED_ON, widget=ChineseDateWidget())
    amount = fields.Field(attribute="amount", column_name=AMOUNT, widget=AmountWidget())
    note = fields.Field(attribute="note", column_name=NOTE, widget=widgets.CharWidget())

    class Meta:
        model = SupportRecord
        fields = ("enterprise", "enterprise_name", "measure", "granted_on", "amount", "note")
        export_order = ("enterprise", "enterprise_name", "measure", "granted_on", "amount", "note")
        import_id_fields = ()
        skip_unchanged = False
        use_bulk = False

    def __init__(self, *, user=None, measure=None, measures=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.fields["enterprise"].widget = ScopedEnterpriseWidget(user)
        self.fields["measure"].widget = MeasureWidget(measure, measures)
        self._seen: set = set()

    def dehydrate_enterprise(self, record):
        return record.enterprise.uscc

    def dehydrate_measure(self, record):
        return record.measure_id

    def get_instance(self, instance_loader, row):
        return None  # every row adds a record

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        fixed = self.fields["measure"].widget.fixed
        for field in self.get_import_fields():
            if field.readonly:
                continue
            if field.attribute == "measure" and (fixed is not None or not str(row.get(MEASURE) or "").strip()):
                if fixed is None:
                    errors["measure"] = ValidationError(_("缺少措施编号。"), code="required")
                else:
                    instance.measure = fixed
                continue
            if field.column_name not in row:
                continue
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                errors[field.attribute] = ValidationError(str(exc), code="invalid")
        if errors:
            raise ValidationError(errors)
        key = (instance.enterprise_id, instance.measure_id, instance.granted_on)
        if key in self._seen:
            raise ValidationError({"granted_on": _("同一企业、同一措施、同一日期的记录在文件中重复。")})
        self._seen.add(key)
        if SupportRecord.objects.filter(enterprise_id=key[0], measure_id=key[1], granted_on=key[2]).exists():
            raise ValidationError({"granted_on": _("该企业在这一天已有这项措施的支持记录。")})


class PolicyResource(resources.ModelResource):
    class Meta:
        model = Policy
        fields = ("id", "title", "doc_number", "issuing_body", "level", "region", "issued_on", "in_force_on",
                  "expires_on", "status", "superseded_by", "instrument", "link", "is_public")


class MeasureResource(resources.ModelResource):
    class Meta:
        model = Measure
        fields = ("id", "policy", "title", "description", "instrument")


class TargetResource(resources.ModelResource):
    class Meta:
        model = Target
        fields = ("id", "measure", "metric", "level_min", "cell_kind", "cell_code", "baseline_period", "target_year",
                  "comparison", "value")

    def before_save_instance(self, instance, row, **kwargs):
        from .services import target_check

        target_check(metric=instance.metric, level_min=instance.level_min, cell_kind=instance.cell_kind,
                     cell_code=instance.cell_code, baseline_period=instance.baseline_period,
                     target_year=instance.target_year, comparison=instance.comparison, value=instance.value)
