"""Admin for periods (opened by staff) and a read-only, scoped view of submissions."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from apps.frameworks.models import FrameworkStatus

from .models import Period, Submission, SubmissionEvent


@admin.register(Period)
class PeriodAdmin(ModelAdmin):
    actions = ["compute_indices"]
    list_display = ["code", "name", "framework", "opens_on", "closes_on", "closed_early", "review_chain"]
    search_fields = ["code", "name"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "framework":
            # A period uses a published (frozen) framework version only.
            kwargs["queryset"] = db_field.related_model.objects.filter(status=FrameworkStatus.PUBLISHED)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if obj.closes_on < obj.opens_on:
            raise ValidationError(_("截止日期不能早于开始日期。"))
        super().save_model(request, obj, form, change)

    @admin.action(description=_("计算所选期次的指数"))
    def compute_indices(self, request, queryset):
        from apps.indices.admin import start_runs_action

        start_runs_action(self, request, queryset)

    def get_readonly_fields(self, request, obj=None):
        # Once anyone has filed, the framework version of the period is fixed.
        if obj is not None and obj.submissions.exists():
            return ["code", "framework"]
        return []


class EventInline(TabularInline):
    model = SubmissionEvent
    extra = 0
    can_delete = False
    fields = ["at", "action", "actor", "from_status", "to_status", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(ModelAdmin):
    """Submissions are changed only through the portal's filing and review pages."""

    list_display = ["enterprise", "period", "status", "submitted_at", "decided_at"]
    list_filter = ["status", "period"]
    search_fields = ["enterprise__name", "enterprise__uscc"]
    inlines = [EventInline]
    readonly_fields = [f.name for f in Submission._meta.fields if f.name != "answer_vector"]
    exclude = ["answer_vector"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).select_related("enterprise", "period")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
