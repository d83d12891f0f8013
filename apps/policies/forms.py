"""Forms of the policy pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.spreadsheets import validate_uploaded_file
from apps.enterprises.models import ImportEncoding

from .models import Measure


class SupportImportForm(forms.Form):
    measure = forms.ModelChoiceField(
        label=_("措施"), queryset=Measure.objects.none(), required=False,
        help_text=_("选定后文件中的每一行都登记为该措施；不选则按文件中的“措施编号”列登记。"),
    )
    file = forms.FileField(label=_("支持记录文件（CSV 或 Excel）"), validators=[validate_uploaded_file])
    encoding = forms.ChoiceField(label=_("文件编码"), choices=ImportEncoding.choices, initial=ImportEncoding.AUTO)

    def __init__(self, *args, measures=None, **kwargs):
        super().__init__(*args, **kwargs)
        if measures is not None:
            self.fields["measure"].queryset = measures.select_related("policy")
            self.fields["measure"].label_from_instance = lambda m: f"{m.pk} · {m.policy.title} · {m.title}"


class ProgressNoteForm(forms.Form):
    text = forms.CharField(label=_("进展说明"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
