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
        from apps.enterprises.models import enterprise_search_q

        value = value.strip()
        return queryset.filter(enterprise_search_q(value, "enterprise"))


# --- the review queue page: regions and industries chosen by name ------------------------------


def region_choices_for(user) -> list[tuple[str, str]]:
    """Regions a reviewer may narrow the queue to, by name, inside its jurisdiction: below
    a prefecture its counties; below a province its prefectures and counties; for staff of
    the whole country the provinces and prefectures. A county has nothing to choose."""
    from apps.accounts.scoping import jurisdiction_of
    from apps.reference.models import Region, RegionLevel

    scope = jurisdiction_of(user)
    rows = Region.objects.filter(is_active=True, is_placeholder=False).select_related("parent", "parent__parent")
    if scope.everything:
        rows = rows.filter(level__in=[RegionLevel.PROVINCE, RegionLevel.PREFECTURE])
    elif scope.region_field == "province_code":
        rows = rows.filter(province_code=scope.region_code).exclude(code=scope.region_code)
    elif scope.region_field == "prefecture_code":
        rows = rows.filter(prefecture_code=scope.region_code, level=RegionLevel.COUNTY)
    else:
        return []

    def label(region) -> str:
        parent = region.parent
        while parent is not None and parent.is_placeholder:
            parent = parent.parent
        if parent is None or (not scope.everything and parent.code == scope.region_code):
            return region.name
        return f"{parent.name} {region.name}"

    return [(r.code, label(r)) for r in rows.order_by("code")]


def division_choices() -> list[tuple[str, str]]:
    """Industry divisions (GB/T 4754 大类) by code and name."""
    from apps.reference.models import Industry, IndustryLevel

    return [(code, f"{code} {name}") for code, name in
            Industry.objects.filter(level=IndustryLevel.DIVISION).order_by("code").values_list("code", "name")]


class ReviewQueueFilter(SubmissionFilter):
    """The review queue's filters: region and industry chosen by name, and a status filter
    whose default (待审核) is the one shown selected and the one applied — see ``with_defaults``."""

    DEFAULT_STATUS = "submitted"

    status = django_filters.ChoiceFilter(label=_("状态"), choices=SubmissionStatus.choices, empty_label=_("全部状态"))
    period = django_filters.ModelChoiceFilter(
        label=_("期次"), queryset=Period.objects.all(), to_field_name="code", empty_label=_("全部期次")
    )
    region = django_filters.ChoiceFilter(label=_("地区"), method="in_region", empty_label=_("全部地区"))
    division_code = django_filters.ChoiceFilter(label=_("行业大类"), empty_label=_("全部行业"))
    mine = django_filters.ChoiceFilter(
        label=_("审核阶段"), choices=[("1", _("仅待我处理"))], empty_label=_("全部阶段"), method="awaiting_me",
    )
    flagged = django_filters.ChoiceFilter(
        label=_("自动提示"), choices=[("true", _("有自动提示")), ("false", _("无自动提示"))], empty_label=_("全部"),
        method="with_flag_choice",
    )

    class Meta(SubmissionFilter.Meta):
        fields = [*SubmissionFilter.Meta.fields, "mine"]

    def awaiting_me(self, queryset, name, value):
        from apps.accounts.review_rules import awaiting_decision_of

        return awaiting_decision_of(queryset, self.user) if value == "1" else queryset

    def with_flag_choice(self, queryset, name, value):
        return self.with_flags(queryset, name, {"true": True, "false": False}.get(value))

    def __init__(self, data=None, *args, user=None, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.user = user
        regions = region_choices_for(user)
        if regions:
            self.filters["region"].extra["choices"] = regions
        else:
            del self.filters["region"]
        self.filters["division_code"].extra["choices"] = division_choices()

    @classmethod
    def with_defaults(cls, query) -> dict:
        """The query with the default status filled in when the reviewer chose none (an empty
        ``status=`` means 全部状态 and is kept)."""
        data = query.copy()
        if "status" not in data:
            data["status"] = cls.DEFAULT_STATUS
        return data
