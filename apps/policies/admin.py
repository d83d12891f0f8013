"""Admin of policies, measures, targets and support records: import/export (XLSX) and history,
every queryset through apps.accounts.policy_rules / scoping like the pages."""

from django.contrib import admin
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from apps.accounts.policy_rules import policies_editable_q, policies_visible_q

from .models import Measure, Policy, ProgressNote, SupportRecord, Target
from .resources import MeasureResource, PolicyResource, SupportRecordResource, TargetResource


class _Base(SimpleHistoryAdmin, ModelAdmin, ImportExportModelAdmin):
    import_form_class = ImportForm
    export_form_class = ExportForm


class MeasureInline(TabularInline):
    model = Measure
    extra = 0
    fields = ("title", "instrument")


@admin.register(Policy)
class PolicyAdmin(_Base):
    resource_classes = [PolicyResource]
    list_display = ("title", "doc_number", "issuing_body", "level", "region", "status", "instrument", "is_public")
    list_filter = ("level", "status", "instrument", "is_public")
    search_fields = ("title", "doc_number", "issuing_body")
    autocomplete_fields = ("region", "superseded_by")
    filter_horizontal = ("key_industries",)
    inlines = [MeasureInline]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(policies_visible_q(request.user))

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or Policy.objects.filter(policies_editable_q(request.user), pk=obj.pk).exists())


@admin.register(Measure)
class MeasureAdmin(_Base):
    resource_classes = [MeasureResource]
    list_display = ("title", "policy", "instrument")
    search_fields = ("title", "policy__title")
    autocomplete_fields = ("policy",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(policies_visible_q(request.user, "policy"))


@admin.register(Target)
class TargetAdmin(_Base):
    resource_classes = [TargetResource]
    list_display = ("__str__", "measure", "metric", "cell_kind", "cell_code", "target_year", "value")
    list_filter = ("metric", "cell_kind")
    autocomplete_fields = ("measure",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(policies_visible_q(request.user, "measure__policy"))

    def save_model(self, request, obj, form, change):
        from django.db import transaction

        from .services import target_progress_enqueue

        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: target_progress_enqueue(target_ids=[obj.pk]))


@admin.register(SupportRecord)
class SupportRecordAdmin(_Base):
    resource_classes = [SupportRecordResource]
    list_display = ("enterprise", "measure", "granted_on", "amount")
    list_filter = ("granted_on",)
    search_fields = ("enterprise__uscc", "enterprise__name")
    autocomplete_fields = ("enterprise", "measure")

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).filter(
            policies_visible_q(request.user, "measure__policy"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # only enterprises of the user's jurisdiction, only measures of policies it may read
        from apps.enterprises.models import Enterprise

        if db_field.name == "enterprise":
            kwargs["queryset"] = Enterprise.objects.visible_to(request.user)
        elif db_field.name == "measure":
            kwargs["queryset"] = Measure.objects.filter(policies_visible_q(request.user, "policy"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {**super().get_resource_kwargs(request, *args, **kwargs), "user": request.user}

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).visible_to(request.user)


@admin.register(ProgressNote)
class ProgressNoteAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("target", "author", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(policies_visible_q(request.user, "target__measure__policy"))
