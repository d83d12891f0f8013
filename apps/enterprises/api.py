"""Enterprise API. Every queryset goes through apps.accounts.scoping, like pages and admin."""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import mixins, serializers, viewsets

from apps.reference.models import Industry, KeyIndustry, Region

from .filters import EnterpriseFilter
from .models import Enterprise
from .services import enterprise_check_region_in_scope


class EnterpriseSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    industry = serializers.SlugRelatedField(slug_field="code", queryset=Industry.objects.all())
    key_industries = serializers.SlugRelatedField(
        slug_field="code", queryset=KeyIndustry.objects.all(), many=True, required=False
    )

    class Meta:
        model = Enterprise
        fields = [
            "id", "uscc", "name", "region", "province_code", "prefecture_code", "county_code",
            "industry", "division_code", "key_industries", "employees", "revenue", "size_class",
            "address", "contact_name", "contact_phone", "contact_email", "created_at", "updated_at",
        ]
        read_only_fields = [
            "uscc", "province_code", "prefecture_code", "county_code", "division_code", "size_class",
            "created_at", "updated_at",
        ]

    def validate(self, attrs):
        # The same rules as the forms: model.clean() (county level, active code, industry
        # level) and the caller's jurisdiction for a new region.
        candidate = copy.copy(self.instance) if self.instance is not None else Enterprise()
        for name, value in attrs.items():
            if name != "key_industries":
                setattr(candidate, name, value)
        try:
            candidate.clean()
            if "region" in attrs:
                enterprise_check_region_in_scope(user=self.context["request"].user, region=attrs["region"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return attrs


class EnterpriseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Enterprise profiles the caller may see (own enterprise, jurisdiction, or all)."""

    serializer_class = EnterpriseSerializer
    filterset_class = EnterpriseFilter

    def get_queryset(self):
        qs = Enterprise.objects.select_related("region", "industry").prefetch_related("key_industries")
        if self.action in ("update", "partial_update"):
            return qs.editable_by(self.request.user)
        return qs.visible_to(self.request.user)

    @transaction.atomic
    def perform_update(self, serializer):
        serializer.save()
