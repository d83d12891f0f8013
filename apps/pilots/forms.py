"""Forms of the pilot pages. The scenario text limit is counted here exactly as the service
counts it (line breaks as one character), so the page and the service agree."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import (
    SCENARIO_MAX_CHARS,
    Application,
    ApplicationStatus,
    Call,
    Element,
    Expert,
    ObjectionStatus,
    ScenarioLevel,
)

MAX_SCENARIOS = 3
CALL_DATE_FIELDS = (
    "applications_open_on", "applications_close_on", "recommendation_closes_on", "eligibility_closes_on",
    "review_closes_on", "defence_closes_on", "notice_starts_on", "notice_ends_on", "decision_on",
)
CALL_FORM_FIELDS = (
    "title", "year", "description", "key_industries", "scenario_levels", "applications_open_on",
    "applications_close_on", "recommendation_closes_on", "eligibility_closes_on", "review_closes_on",
    "defence_required", "defence_closes_on", "notice_starts_on", "notice_ends_on", "decision_on", "quota_per_unit",
    "industry_quotas", "rubric_scale", "reviewers_per_application", "aggregation", "disagreement_threshold",
    "min_diagnosis_level", "region_conflict",
)


class ScenarioForm(forms.Form):
    title = forms.CharField(label=_("场景名称"), max_length=200, required=False)
    level = forms.ChoiceField(label=_("场景层级"), choices=[("", "—")] + list(ScenarioLevel.choices), required=False)
    elements = forms.MultipleChoiceField(
        label=_("人机料法环测要素"), choices=Element.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    text = forms.CharField(
        label=_("场景描述"), required=False,
        widget=forms.Textarea(attrs={"rows": 8, "data-max-chars": SCENARIO_MAX_CHARS}),
        help_text=_("不超过 3000 字（换行计 1 字）。"),
    )


class ObjectionForm(forms.Form):
    application = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    organisation = forms.CharField(label=_("工作单位"), max_length=200, required=False)
    phone = forms.CharField(label=_("联系电话"), max_length=30, required=False)
    email = forms.EmailField(label=_("电子邮箱"), required=False)
    text = forms.CharField(label=_("异议内容"), widget=forms.Textarea(attrs={"rows": 5}), required=False)


class ObjectionHandleForm(forms.Form):
    status = forms.ChoiceField(label=_("处理结论"), choices=[
        (ObjectionStatus.UPHELD, ObjectionStatus.UPHELD.label), (ObjectionStatus.DISMISSED, ObjectionStatus.DISMISSED.label)])
    handling = forms.CharField(label=_("处理情况"), widget=forms.Textarea(attrs={"rows": 2}))


class CallForm(forms.ModelForm):
    """A call's settings for staff; the checks across fields (dates in stage order, rubric)
    are the service's (services.call_validate), shown as the form's errors."""

    scenario_levels = forms.MultipleChoiceField(
        label=_("场景层级"), choices=ScenarioLevel.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Call
        fields = list(CALL_FORM_FIELDS)
        widgets = {
            **{f: forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d") for f in CALL_DATE_FIELDS},
            "key_industries": forms.CheckboxSelectMultiple,
            "description": forms.Textarea(attrs={"rows": 3}),
            "industry_quotas": forms.Textarea(attrs={"rows": 2}),
        }


class CriterionForm(forms.Form):
    code = forms.SlugField(label=_("代码"), max_length=20, required=False)
    name = forms.CharField(label=_("评审要点"), max_length=200, required=False)
    weight = forms.FloatField(label=_("权重"), required=False, min_value=0)

    def criterion(self) -> dict | None:
        """The row as the service takes it; None for an empty row."""
        data = self.cleaned_data
        if not data.get("code") and not data.get("name") and data.get("weight") in (None, ""):
            return None
        return {"code": data.get("code") or "", "name": data.get("name") or "", "weight": data.get("weight") or 0}


CriterionFormSet = forms.formset_factory(CriterionForm, extra=2, max_num=20)


class DefenceSlotForm(forms.Form):
    starts_at = forms.DateTimeField(label=_("答辩时间"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    place = forms.CharField(label=_("地点"), max_length=200)
    panel = forms.ModelMultipleChoiceField(label=_("答辩专家组"), queryset=Expert.objects.none(),
                                           widget=forms.CheckboxSelectMultiple)
    applications = forms.ModelMultipleChoiceField(label=_("答辩企业"), queryset=Application.objects.none(),
                                                  widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, call: Call, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["panel"].queryset = Expert.objects.filter(is_active=True).order_by("name")
        self.fields["applications"].queryset = (
            Application.objects.filter(call=call, status=ApplicationStatus.REVIEWED).select_related("enterprise"))
        self.fields["applications"].label_from_instance = lambda a: a.enterprise.name
