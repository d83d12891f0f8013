"""django-import-export resources of pilot selection (XLSX in the admin): calls, the expert
pool, conflicts and review results. Chinese column headers; look-ups that say what is wrong
in a clerk's words; an import with any row error is rolled back whole (the admin's dry run
shows every row's errors and refuses to confirm; IMPORT_EXPORT_USE_TRANSACTIONS)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from apps.enterprises.models import Enterprise
from apps.reference.models import KeyIndustry, Region

from .models import AggregateResult, Call, Conflict, ConflictSource, Expert, ScenarioLevel


class CodeForeignKey(widgets.ForeignKeyWidget):
    """A foreign key by code; an unknown code is a row error naming the column."""

    def __init__(self, model, field, label):
        super().__init__(model, field)
        self.label = label

    def clean(self, value, row=None, **kwargs):
        value = (str(value).strip() if value is not None else "")
        if not value:
            return None
        try:
            return self.model.objects.get(**{self.field: value})
        except self.model.DoesNotExist as exc:
            raise ValueError(_("“%(label)s”中的“%(value)s”不存在。") % {"label": self.label, "value": value}) from exc


class KeyIndustryList(widgets.ManyToManyWidget):
    def clean(self, value, row=None, **kwargs):
        codes = [c.strip() for c in str(value or "").replace("、", ",").split(",") if c.strip()]
        found = {k.pk: k for k in KeyIndustry.objects.filter(pk__in=codes)}
        unknown = [c for c in codes if c not in found]
        if unknown:
            raise ValueError(_("未知的重点行业代码：%(codes)s") % {"codes": "、".join(unknown)})
        return [found[c] for c in codes]


class LevelList(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        codes = [c.strip() for c in str(value or "").replace("、", ",").split(",") if c.strip()]
        unknown = [c for c in codes if c not in ScenarioLevel.values]
        if unknown:
            raise ValueError(_("未知的场景层级代码：%(codes)s（可用 lifecycle、value_chain、industry_chain）") % {
                "codes": "、".join(unknown)})
        return codes

    def render(self, value, obj=None, **kwargs):
        return ",".join(value or [])


class YesNo(widgets.BooleanWidget):
    TRUE_VALUES = ["是", "1", 1, True, "true", "TRUE", "True"]
    FALSE_VALUES = ["否", "0", 0, False, "false", "FALSE", "False"]

    def render(self, value, obj=None, **kwargs):
        return "是" if value else "否"


class AllOrNothing(resources.ModelResource):
    """Any row error (a bad value or a refused row) rolls the whole import back."""

    def import_data(self, dataset, **kwargs):
        kwargs.setdefault("rollback_on_validation_errors", True)
        kwargs.setdefault("use_transactions", True)
        return super().import_data(dataset, **kwargs)


class ExpertResource(AllOrNothing):
    id = fields.Field(attribute="id", column_name="专家编号", widget=widgets.IntegerWidget())
    name = fields.Field(attribute="name", column_name="姓名")
    employer = fields.Field(attribute="employer", column_name="工作单位")
    employer_group = fields.Field(attribute="employer_group", column_name="所属集团")
    region = fields.Field(attribute="region", column_name="地区代码", widget=CodeForeignKey(Region, "code", "地区代码"))
    key_industries = fields.Field(attribute="key_industries", column_name="重点行业", widget=KeyIndustryList(KeyIndustry, field="code"))
    scenario_levels = fields.Field(attribute="scenario_levels", column_name="场景层级", widget=LevelList())
    email = fields.Field(attribute="email", column_name="电子邮箱")
    is_active = fields.Field(attribute="is_active", column_name="在库", widget=YesNo())

    class Meta:
        model = Expert
        import_id_fields = ["id"]
        fields = ["id", "name", "employer", "employer_group", "region", "key_industries", "scenario_levels", "email", "is_active"]
        skip_unchanged = True
        use_transactions = True

    def before_import_row(self, row, **kwargs):
        if not str(row.get("姓名") or "").strip() or not str(row.get("工作单位") or "").strip():
            raise ValidationError(_("“姓名”和“工作单位”不能为空。"))


class ConflictResource(AllOrNothing):
    expert = fields.Field(attribute="expert", column_name="专家编号", widget=CodeForeignKey(Expert, "pk", "专家编号"))
    enterprise = fields.Field(
        attribute="enterprise", column_name="统一社会信用代码", widget=CodeForeignKey(Enterprise, "uscc", "统一社会信用代码")
    )
    reason = fields.Field(attribute="reason", column_name="回避原因")

    class Meta:
        model = Conflict
        import_id_fields = ["expert", "enterprise"]
        fields = ["expert", "enterprise", "reason"]
        use_transactions = True

    def before_import_row(self, row, **kwargs):
        if not str(row.get("回避原因") or "").strip():
            raise ValidationError(_("“回避原因”不能为空。"))

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.source:
            instance.source = ConflictSource.STAFF

    def after_save_instance(self, instance, row, **kwargs):
        from .services import conflict_recorded

        if not kwargs.get("dry_run"):
            conflict_recorded(conflict=instance)


class CallResource(AllOrNothing):
    """Calls without their rubric (entered on the call's page, which a call needs before it is
    published). A row runs the service's checks (dates in stage order, scenario levels) and may
    create a call or change a draft one only: a published call changes on its page, where
    the service keeps what the selection already rests on."""

    def before_save_instance(self, instance, row, **kwargs):
        from .models import CallStatus
        from .services import call_settings_validate

        if instance.pk and Call.objects.filter(pk=instance.pk).exclude(status=CallStatus.DRAFT).exists():
            raise ValidationError(_("批次 %(id)s 已发布，不能通过导入修改，请在批次页面修改。") % {"id": instance.pk})
        if not instance.status:
            instance.status = CallStatus.DRAFT
        call_settings_validate(call=instance)

    class Meta:
        model = Call
        import_id_fields = ["id"]
        fields = [
            "id", "title", "year", "description", "scenario_levels", "applications_open_on", "applications_close_on",
            "recommendation_closes_on", "eligibility_closes_on", "review_closes_on", "defence_required",
            "defence_closes_on", "notice_starts_on", "notice_ends_on", "decision_on", "quota_per_unit",
            "industry_quotas", "rubric_scale", "reviewers_per_application", "aggregation", "disagreement_threshold",
            "min_diagnosis_level", "region_conflict",
        ]
        use_transactions = True


class ResultResource(resources.ModelResource):
    """Review results for export: call, enterprise, unit, robust score, spread, adjustment."""

    call = fields.Field(attribute="application__call__title", column_name="遴选批次", readonly=True)
    enterprise = fields.Field(attribute="application__enterprise__name", column_name="企业名称", readonly=True)
    unit = fields.Field(attribute="application__recommending_unit__name", column_name="推荐单位", readonly=True)
    reviews = fields.Field(attribute="reviews", column_name="评审数", readonly=True)
    score = fields.Field(attribute="score", column_name="汇总得分", readonly=True)
    spread = fields.Field(attribute="spread", column_name="极差", readonly=True)
    disagreement = fields.Field(attribute="disagreement", column_name="分歧较大", widget=YesNo(), readonly=True)
    adjusted_score = fields.Field(attribute="adjusted_score", column_name="调整后得分", readonly=True)
    adjustment_reason = fields.Field(attribute="adjustment_reason", column_name="调整原因", readonly=True)
    status = fields.Field(attribute="application__status", column_name="状态", readonly=True)

    class Meta:
        model = AggregateResult
        fields = ["call", "enterprise", "unit", "reviews", "score", "spread", "disagreement", "adjusted_score",
                  "adjustment_reason", "status"]
        export_order = fields
