"""Admin (django-unfold) of pilot selection and showcase cases, for ministry staff: change
history everywhere, XLSX import/export of calls, experts and conflicts, export of results.

Nothing here bypasses the workflow's services: whatever a service checks is changed on the
pilot pages only (calls and their rubric, applications, assignments, reviews, results, defence
slots, objections: view-only here, with a link to the page), the case status moves through
case_transition, a conflict entered here has the service's consequence (conflict_recorded),
and the call import runs the service's checks (resources.CallResource)."""

from django.contrib import admin
from import_export.admin import ExportMixin, ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from apps.accounts import pilot_rules

from .models import (
    AggregateResult,
    Application,
    ApplicationEvent,
    Assignment,
    Call,
    Case,
    Conflict,
    DefenceSlot,
    Expert,
    Objection,
    Review,
    RubricCriterion,
    Scenario,
)
from .resources import CallResource, ConflictResource, ExpertResource, ResultResource


class StaffOnly:
    """Only pilot staff (ministry, admin) see these models, whatever Django permissions say."""

    def has_module_permission(self, request):
        return pilot_rules.is_pilot_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return pilot_rules.is_pilot_staff(request.user)

    def has_add_permission(self, request, *args):
        return pilot_rules.is_pilot_staff(request.user)

    def has_change_permission(self, request, obj=None):
        return pilot_rules.is_pilot_staff(request.user)

    def has_delete_permission(self, request, obj=None):
        return pilot_rules.is_pilot_staff(request.user)

    def has_import_permission(self, request):
        return pilot_rules.is_pilot_staff(request.user)

    def has_export_permission(self, request):
        return pilot_rules.is_pilot_staff(request.user)


class ThroughThePages(StaffOnly):
    """View-only: these rows change through the pilot pages' services, never here."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class XlsxImportExport(ImportExportModelAdmin):
    import_form_class = ImportForm
    export_form_class = ExportForm
    formats = [XLSX]

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs.setdefault("rollback_on_validation_errors", True)
        return kwargs


class CriterionInline(TabularInline):
    model = RubricCriterion
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Call)
class CallAdmin(ThroughThePages, SimpleHistoryAdmin, ModelAdmin, XlsxImportExport):
    """Calls are created and changed on /pilots/calls/new/ and /pilots/calls/<id>/edit/
    (services.call_create / call_update); here they are listed, imported and exported."""

    resource_classes = [CallResource]
    inlines = [CriterionInline]
    list_display = ["title", "year", "status", "applications_open_on", "notice_ends_on", "quota_per_unit"]
    list_filter = ["status", "year"]
    filter_horizontal = ["key_industries"]


class ScenarioInline(TabularInline):
    model = Scenario
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EventInline(TabularInline):
    model = ApplicationEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "from_status", "to_status", "actor", "at", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(ThroughThePages, SimpleHistoryAdmin, ModelAdmin):
    list_display = ["enterprise", "call", "recommending_unit", "status", "diagnosis_score", "recommend_rank"]
    list_filter = ["call", "status"]
    search_fields = ["enterprise__name", "enterprise__uscc"]
    list_select_related = ["enterprise", "call", "recommending_unit"]
    raw_id_fields = ["enterprise", "submission"]
    readonly_fields = ["status", "recommending_unit", "diagnosis_score", "diagnosis_level", "submitted_at",
                       "recommend_rank", "eligibility_checks", "declared_at", "declared_by"]
    inlines = [ScenarioInline, EventInline]


@admin.register(Expert)
class ExpertAdmin(StaffOnly, SimpleHistoryAdmin, ModelAdmin, XlsxImportExport):
    resource_classes = [ExpertResource]
    list_display = ["name", "employer", "employer_group", "region", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "employer", "employer_group"]
    raw_id_fields = ["user", "region"]
    filter_horizontal = ["key_industries"]


@admin.register(Conflict)
class ConflictAdmin(StaffOnly, SimpleHistoryAdmin, ModelAdmin, XlsxImportExport):
    resource_classes = [ConflictResource]
    list_display = ["expert", "enterprise", "source", "reason", "created_at"]
    list_filter = ["source"]
    raw_id_fields = ["expert", "enterprise"]
    readonly_fields = ["created_by"]  # set to the staff member who saves it (save_model)

    def save_model(self, request, obj, form, change):
        from .services import conflict_recorded

        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        conflict_recorded(conflict=obj)


@admin.register(Assignment)
class AssignmentAdmin(StaffOnly, SimpleHistoryAdmin, ModelAdmin):
    """Read-only: assign and swap on the call page, where the conflict checks run."""

    list_display = ["application", "expert", "method", "assigned_at"]
    list_filter = ["method", "application__call"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(StaffOnly, SimpleHistoryAdmin, ModelAdmin):
    list_display = ["assignment", "total", "submitted_at"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AggregateResult)
class AggregateResultAdmin(StaffOnly, SimpleHistoryAdmin, ExportMixin, ModelAdmin):
    resource_classes = [ResultResource]
    export_form_class = ExportForm
    formats = [XLSX]
    list_display = ["application", "score", "spread", "disagreement", "adjusted_score"]
    list_filter = ["disagreement", "application__call"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DefenceSlot)
class DefenceSlotAdmin(ThroughThePages, SimpleHistoryAdmin, ModelAdmin):
    list_display = ["call", "starts_at", "place"]
    filter_horizontal = ["panel", "applications"]


@admin.register(Objection)
class ObjectionAdmin(ThroughThePages, SimpleHistoryAdmin, ModelAdmin):
    list_display = ["application", "name", "phone", "submitted_at", "status"]
    list_filter = ["status", "call"]
    readonly_fields = ["call", "application", "name", "organisation", "phone", "email", "text", "submitted_at"]


@admin.register(Case)
class CaseAdmin(StaffOnly, SimpleHistoryAdmin, ModelAdmin):
    list_display = ["title", "enterprise_display", "scenario_level", "key_industry", "status", "published_at"]
    list_filter = ["status", "scenario_level", "key_industry"]
    search_fields = ["title", "enterprise_display"]
    raw_id_fields = ["enterprise", "industry", "region", "source_application"]
    readonly_fields = ["status", "published_at", "consent_at", "source_application", "created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
