"""Forms of the pilot pages. The scenario text limit is counted here exactly as the service
counts it (line breaks as one character), so the page and the service agree."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import SCENARIO_MAX_CHARS, Element, ObjectionStatus, ScenarioLevel

MAX_SCENARIOS = 3


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
