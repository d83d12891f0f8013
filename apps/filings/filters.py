"""Filters of the review queue (and the submissions API)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import Period, Submission, SubmissionStatus


class SubmissionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("状态"), choices=SubmissionStatus.choices)
    period = django_filters.ModelChoiceFilter(label=_("期次"), queryset=Period.objects.all(), to_field_name="code")
    region = django_filters.CharFilter(label=_("地区代码"), method="in_region")
    division_code = django_filters.CharFilter(label=_("行业大类代码"))
    flagged = django_filters.BooleanFilter(label=_("有自动提示"), method="with_flags")
    q = django_filters.CharFilter(label=_("企业名称或信用代码"), method="search")

    class Meta:
        model = Submission
        fields = ["status", "period", "region", "division_code", "flagged", "q"]

    def in_region(self, queryset, name, value):
        value = value.strip()
        if len(value) != 6 or not value.isdigit():
            return queryset.none()
        if value.endswith("0000"):
            return queryset.filter(province_code=value)
        if value.endswith("00"):
            return queryset.filter(prefecture_code=value)
        return queryset.filter(county_code=value)

    def with_flags(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(flags=[]) if value else queryset.filter(flags=[])

    def search(self, queryset, name, value):
        from django.db.models import Q

        value = value.strip()
        return queryset.filter(Q(enterprise__name__icontains=value) | Q(enterprise__uscc__iexact=value.upper()))
