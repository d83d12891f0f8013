"""Forms for enterprise profiles: self-registration and editing.

Region is chosen province → prefecture → county with three selects (htmx loads the
children); only the county code is stored. All messages are zh-hans first.
"""

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel

from .models import Enterprise
from .validators import normalise_uscc


class RegionCascadeMixin(forms.Form):
    """Province and prefecture selects that narrow the county select (county is the field)."""

    province = forms.ChoiceField(label=_("省份"), required=False)
    prefecture = forms.ChoiceField(label=_("地市"), required=False)

    def _setup_region_fields(self, county_code: str | None) -> None:
        data = self.data if self.is_bound else {}
        county = None
        if county_code:
            county = Region.objects.filter(code=county_code).first()
        prov_code = data.get("province") or (county.province_code if county else "")
        pref_code = data.get("prefecture") or (county.prefecture_code if county else "")
        empty = [("", _("请选择"))]
        provinces = Region.objects.active().provinces().filter(oversees_prefecture_code="")
        self.fields["province"].choices = empty + [(r.code, r.name) for r in provinces]
        prefectures = Region.objects.active().children_of(prov_code) if prov_code else Region.objects.none()
        self.fields["prefecture"].choices = empty + [(r.code, r.name) for r in prefectures]
        region_field = self.fields["region"]
        counties = Region.objects.active().children_of(pref_code) if pref_code else Region.objects.none()
        if pref_code and not counties.exists():  # 东莞, 中山, 儋州: the city is its own county
            counties = Region.objects.active().filter(code=pref_code, is_county_equivalent=True)
        # The county queryset stays "all county rows" so that a code posted without the
        # cascade (no JavaScript) still validates; the choices shown are narrowed.
        region_field.queryset = Region.objects.filter(Q(level=RegionLevel.COUNTY) | Q(is_county_equivalent=True))
        region_field.choices = empty + [(r.code, r.name) for r in counties]
        self.initial.setdefault("province", prov_code)
        self.initial.setdefault("prefecture", pref_code)
        for name, target in (("province", "#id_prefecture"), ("prefecture", "#id_region")):
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": "/reference/regions/options/",
                    "hx-target": target,
                    "hx-trigger": "change",
                    "autocomplete": "off",
                }
            )
        # portal.js empties the county select when the province changes (no inline handler: CSP)
        self.fields["province"].widget.attrs["data-clears"] = "#id_region"


class EnterpriseProfileForm(RegionCascadeMixin, forms.ModelForm):
    """Profile fields shared by registration and editing."""

    region = forms.ModelChoiceField(
        label=_("所在区县"), queryset=Region.objects.none(), to_field_name="code",
        error_messages={"invalid_choice": _("未知的区县代码，请从列表中选择所在区县。"),
                        "required": _("请选择企业所在区县。")},
    )
    industry = forms.ModelChoiceField(
        label=_("所属行业"),
        queryset=Industry.objects.filter(level__in=[IndustryLevel.DIVISION, IndustryLevel.GROUP], is_active=True),
        to_field_name="code",
        help_text=_("国民经济行业分类 GB/T 4754-2017 制造业大类或中类。"),
        error_messages={"invalid_choice": _("未知的行业代码，请从列表中选择。")},
    )
    key_industries = forms.ModelMultipleChoiceField(
        label=_("重点行业"), queryset=KeyIndustry.objects.all(), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("如属于《实施指南》提出的重点行业，请勾选（可多选）。"),
    )

    class Meta:
        model = Enterprise
        fields = [
            "name", "province", "prefecture", "region", "industry", "key_industries",
            "employees", "revenue", "address", "contact_name", "contact_phone", "contact_email",
        ]
        help_texts = {
            "employees": _("上年末从业人员数。"),
            "revenue": _("上年营业收入，单位万元。规模（大中小微）按国家统计局2017年办法自动划分。"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.Meta.fields)
        county_code = self.data.get("region") if self.is_bound else (self.instance.region_id or None)
        self._setup_region_fields(county_code)
        self.fields["industry"].label_from_instance = lambda obj: f"{obj.code} {obj.name}"
        if self.instance.pk:
            self.initial["region"] = self.instance.region_id


def uscc_region_warning(code: str, region: Region) -> str:
    """A message when positions 3–8 of the USCC (the registration authority's division
    code) name another region than ``region``; "" when they agree or cannot be read.

    The authority may be the county itself, its prefecture or its province (codes ending in
    00 / 0000), so any of these agrees.
    """
    authority = code[2:8]
    if len(authority) != 6 or not authority.isdigit():
        return ""
    own = {region.code, region.prefecture_code, region.province_code,
           (region.code or "")[:4] + "00", (region.code or "")[:2] + "0000"}
    if authority in own or authority[:2] == "00":
        return ""
    named = Region.objects.filter(code=authority).only("name").first()
    return _(
        "统一社会信用代码第3–8位（登记管理机关行政区划码 %(code)s%(name)s）与所选区县“%(region)s”不一致，"
        "请核对所在区县；确认无误的，请勾选“我已核对，所在区县无误”后再提交。"
    ) % {"code": authority, "name": f"，{named.name}" if named else "", "region": region.name}


class EnterpriseRegistrationForm(EnterpriseProfileForm):
    """Self-registration: the profile plus the USCC and the first user's log-in."""

    uscc = forms.CharField(
        label=_("统一社会信用代码"), max_length=30,
        help_text=_("18位，见营业执照。字母请用大写，可含空格，系统会自动去除。"),
    )
    username = forms.CharField(label=_("登录用户名"), max_length=150, help_text=_("字母、数字及 @.+-_"))
    password1 = forms.CharField(label=_("密码"), widget=forms.PasswordInput, strip=False,
                                help_text=_("至少10位，不能全为数字，不能与用户名相近。"))
    password2 = forms.CharField(label=_("确认密码"), widget=forms.PasswordInput, strip=False)
    confirm_region = forms.BooleanField(
        label=_("我已核对，所在区县无误"), required=False,
        help_text=_("统一社会信用代码的登记管理机关与所选区县不一致时需要勾选。"),
    )

    class Meta(EnterpriseProfileForm.Meta):
        fields = ["uscc", "name"] + EnterpriseProfileForm.Meta.fields[1:] + ["username", "password1", "password2"]

    def clean_uscc(self):
        value = normalise_uscc(self.cleaned_data["uscc"])
        from .validators import validate_uscc

        validate_uscc(value)
        if Enterprise.objects.filter(uscc=value).exists():
            raise forms.ValidationError(
                _("该统一社会信用代码已注册。如需为本企业增加填报账号，请联系企业现有账号或所在地主管部门。"),
                code="uscc_taken",
            )
        return value

    def clean_username(self):
        username = self.cleaned_data["username"]
        user_model = get_user_model()
        user_model.username_validator(username)
        if user_model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("该用户名已被使用，请换一个。"), code="username_taken")
        return username

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("两次输入的密码不一致。"))
        elif p1:
            probe = get_user_model()(username=cleaned.get("username", ""), email=cleaned.get("contact_email", ""))
            try:
                password_validation.validate_password(p1, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def _post_clean(self):
        # uscc is a model field validated above; make sure the instance carries the clean value.
        super()._post_clean()
        if "uscc" in self.cleaned_data:
            self.instance.uscc = self.cleaned_data["uscc"]
        # After the model's own checks (an abolished county is refused there first): warn
        # when the code's registration authority names another region.
        region, code = self.cleaned_data.get("region"), self.cleaned_data.get("uscc")
        if region is not None and code and "region" not in self.errors and not self.cleaned_data.get("confirm_region"):
            warning = uscc_region_warning(code, region)
            if warning:
                self.add_error("region", warning)


class EnterpriseEditForm(EnterpriseProfileForm):
    """Editing by staff, authorities (inside their jurisdiction) and the enterprise itself.

    The USCC never changes; an enterprise user cannot move its own enterprise to another
    region (that would move it to another authority) — the authority does that.
    """

    def __init__(self, *args, can_move_region: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_move_region:
            for name in ("province", "prefecture", "region"):
                self.fields[name].disabled = True
