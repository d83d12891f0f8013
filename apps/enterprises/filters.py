"""Filters over enterprise lists, shared by the list page and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region
from apps.reference.size import SizeClass

from .models import Enterprise, enterprise_search_q


class EnterpriseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("名称或信用代码"))
    province_code = django_filters.ChoiceFilter(label=_("省份"), choices=())
    prefecture_code = django_filters.CharFilter(label=_("地市代码"))
    county_code = django_filters.CharFilter(label=_("区县代码"))
    division_code = django_filters.ChoiceFilter(label=_("行业大类"), choices=())
    size_class = django_filters.ChoiceFilter(label=_("企业规模"), choices=SizeClass.choices)
    key_industry = django_filters.ModelChoiceFilter(
        label=_("重点行业"), field_name="key_industries", queryset=KeyIndustry.objects.all()
    )
    awaiting_confirmation = django_filters.BooleanFilter(label=_("待主管部门确认"))

    class Meta:
        model = Enterprise
        fields = ["q", "province_code", "prefecture_code", "county_code", "division_code", "size_class", "key_industry",
                  "awaiting_confirmation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["province_code"].extra["choices"] = [
            (r.code, r.name) for r in Region.objects.provinces().filter(oversees_prefecture_code="")
        ]
        self.filters["division_code"].extra["choices"] = [
            (i.code, f"{i.code} {i.name}") for i in Industry.objects.filter(level=IndustryLevel.DIVISION)
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(enterprise_search_q(value))
