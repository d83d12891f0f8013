"""Read-only API over reference data. GB/T 2260 and GB/T 4754 are public standards, so
these lists are readable by anyone logged in; the enterprise-data scoping rules of
apps.accounts.scoping do not restrict them."""

import django_filters
from rest_framework import serializers, viewsets

from .models import Industry, KeyIndustry, Region


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent_id", allow_null=True, read_only=True)

    class Meta:
        model = Region
        fields = [
            "code", "name", "level", "parent", "province_code", "prefecture_code",
            "is_active", "is_separately_planned", "is_placeholder", "oversees_prefecture_code",
        ]


class RegionFilter(django_filters.FilterSet):
    parent = django_filters.CharFilter(field_name="parent_id")

    class Meta:
        model = Region
        fields = ["level", "parent", "province_code", "prefecture_code", "is_active", "is_separately_planned"]


class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    """Administrative divisions (GB/T 2260) with their edition status."""

    queryset = Region.objects.all()
    serializer_class = RegionSerializer
    filterset_class = RegionFilter
    lookup_field = "code"


class IndustrySerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent_id", allow_null=True, read_only=True)

    class Meta:
        model = Industry
        fields = ["code", "name", "level", "parent", "division_code", "edition", "is_active"]


class IndustryViewSet(viewsets.ReadOnlyModelViewSet):
    """Manufacturing classes of GB/T 4754-2017 (section C)."""

    queryset = Industry.objects.all()
    serializer_class = IndustrySerializer
    filterset_fields = ["level", "division_code", "is_active"]
    lookup_field = "code"


class KeyIndustrySerializer(serializers.ModelSerializer):
    industries = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = KeyIndustry
        fields = ["code", "name", "name_en", "industries"]


class KeyIndustryViewSet(viewsets.ReadOnlyModelViewSet):
    """The six key industries of the MIIT guide and the GB/T 4754 classes they cover."""

    queryset = KeyIndustry.objects.prefetch_related("industries")
    serializer_class = KeyIndustrySerializer
    lookup_field = "code"
    pagination_class = None
