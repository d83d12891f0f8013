"""Admin for reference data (django-unfold).

Reference data comes from the committed fixtures through ``manage.py load_reference``;
the admin is for looking things up. Only superusers may correct a row by hand, and nobody
deletes regions or industries here: enterprises point at them (PROTECT), and a code that
is abolished is marked inactive by the next edition instead.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import DropdownFilter

from apps.accounts.permissions import can_edit_reference_data

from .models import Industry, KeyIndustry, Region, RegionEdition, RegionLevel


class SuperuserEditsMixin:
    """Everyone with admin access reads; superusers edit; nobody deletes."""

    def has_add_permission(self, request, *args):
        return can_edit_reference_data(request.user)

    def has_change_permission(self, request, obj=None):
        return can_edit_reference_data(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


class ProvinceFilter(DropdownFilter):
    """Filter by the denormalised province code (one indexed equality, no tree walk)."""

    title = _("省级")
    parameter_name = "province"

    def lookups(self, request, model_admin):
        provinces = Region.objects.filter(level=RegionLevel.PROVINCE).order_by("code")
        return [(r.code, f"{r.code} {r.name}") for r in provinces.only("code", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(province_code=self.value())
        return queryset


@admin.register(Region)
class RegionAdmin(SuperuserEditsMixin, ModelAdmin):
    list_display = [
        "code", "name", "level", "parent", "province_code", "prefecture_code",
        "is_active", "is_separately_planned", "is_placeholder", "last_edition",
    ]
    list_filter = [ProvinceFilter, "level", "is_active", "is_separately_planned", "is_placeholder", "last_edition"]
    list_filter_submit = True
    search_fields = ["code", "name"]
    list_select_related = ["parent", "last_edition"]
    # The place in the tree and the denormalised codes come from the edition files (the
    # loader keeps them consistent); by hand only a name or a flag may be corrected.
    readonly_fields = [
        "code", "level", "parent", "province_code", "prefecture_code", "oversees_prefecture_code", "last_edition",
    ]
    ordering = ["code"]
    list_per_page = 100

    def has_add_permission(self, request):
        return False  # new codes arrive with an edition file (load_reference --regions)


@admin.register(RegionEdition)
class RegionEditionAdmin(ModelAdmin):
    """Editions are recorded by the loader only."""

    list_display = ["code", "source", "valid_on", "is_current", "region_count", "loaded_at"]
    readonly_fields = ["code", "source", "valid_on", "is_current", "region_count", "loaded_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Industry)
class IndustryAdmin(SuperuserEditsMixin, ModelAdmin):
    list_display = ["code", "name", "level", "parent", "division_code", "edition", "is_active"]
    list_filter = ["level", "division_code", "is_active", "edition"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    raw_id_fields = ["parent"]
    ordering = ["code"]
    list_per_page = 100


@admin.register(KeyIndustry)
class KeyIndustryAdmin(SuperuserEditsMixin, ModelAdmin):
    list_display = ["name", "code", "name_en", "industry_codes", "sort_order"]
    search_fields = ["code", "name", "name_en"]
    filter_horizontal = ["industries"]
    ordering = ["sort_order", "code"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("industries")

    @admin.display(description=_("对应行业"))
    def industry_codes(self, obj):
        return ", ".join(f"{i.code} {i.name}" for i in obj.industries.all())
