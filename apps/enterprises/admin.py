"""Admin (django-unfold) for enterprises, with import/export and change history.

Scope: every queryset goes through ``Enterprise.objects.visible_to(request.user)``, the
history pages included (simple_history would otherwise fall back to the history table and
show an enterprise outside the user's jurisdiction), and a region chosen in the change form
must lie inside the user's jurisdiction.

Import/export use the same resource, file reader and export writer as the portal page and
the management commands (:mod:`apps.enterprises.imports`). django-import-export's admin
first runs a dry run and refuses to confirm an import that has any error, so an import in
the admin is always all-or-nothing.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from apps.accounts.permissions import can_import_enterprises

from .imports import EnterpriseCSV, EnterpriseXLSX, ImportFileError, enterprises_export
from .models import Enterprise, ImportJob
from .resources import EnterpriseResource
from .services import enterprise_check_region_in_scope


class EnterpriseAdminForm(forms.ModelForm):
    #: set by EnterpriseAdmin.get_form() on the per-request form class
    acting_user = None

    class Meta:
        model = Enterprise
        fields = [
            "uscc", "name", "region", "industry", "key_industries", "employees", "revenue", "address",
            "contact_name", "contact_phone", "contact_email",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        region = cleaned.get("region")
        if region is not None and self.acting_user is not None and "region" in self.changed_data:
            try:
                enterprise_check_region_in_scope(user=self.acting_user, region=region)
            except ValidationError as exc:
                self.add_error("region", exc.message_dict.get("region", exc.messages))
        return cleaned


@admin.register(Enterprise)
class EnterpriseAdmin(SimpleHistoryAdmin, ModelAdmin, ImportExportModelAdmin):
    form = EnterpriseAdminForm
    import_form_class = ImportForm
    export_form_class = ExportForm
    resource_classes = [EnterpriseResource]
    formats = [EnterpriseCSV, EnterpriseXLSX]
    import_error_display = ("message",)

    list_display = ["name", "uscc", "region", "industry", "size_class", "employees", "revenue", "updated_at"]
    list_filter = ["province_code", "size_class", "division_code"]
    search_fields = ["name", "uscc"]
    list_select_related = ["region", "industry"]
    raw_id_fields = ["region", "industry"]
    filter_horizontal = ["key_industries"]
    readonly_fields = [
        "province_code", "prefecture_code", "county_code", "division_code", "size_class", "created_at", "updated_at",
    ]  # fmt: skip
    history_list_display = ["name", "region", "employees", "revenue"]

    def get_queryset(self, request):
        return Enterprise.objects.visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = request.user  # get_form() builds a new class per call
        return form

    def _check_in_scope(self, request, object_id) -> None:
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404

    def history_view(self, request, object_id, extra_context=None):
        self._check_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._check_in_scope(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

    # --- import / export --------------------------------------------------------------

    def has_import_permission(self, request):
        return (
            can_import_enterprises(request.user)
            and self.has_add_permission(request)
            and self.has_change_permission(request)
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_resource_kwargs(self, request, **kwargs):
        kwargs = super().get_import_resource_kwargs(request, **kwargs)
        kwargs.update(user=request.user, change_reason=str(_("后台导入")), annotate_lines=True)
        return kwargs

    def get_export_resource_kwargs(self, request, **kwargs):
        kwargs = super().get_export_resource_kwargs(request, **kwargs)
        kwargs["user"] = request.user
        return kwargs

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        # The confirm step re-reads the file; if the data changed since the preview and a
        # row became invalid, roll back instead of quietly skipping it.
        kwargs.setdefault("rollback_on_validation_errors", True)
        return kwargs

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportFileError):
            form.add_error("import_file", e.message)
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        if not self.has_export_permission(request):
            raise PermissionDenied
        # The one export writer (scope, UTF-8 BOM, formula neutralisation) for every surface.
        return enterprises_export(user=request.user, file_format=file_format.file_format, queryset=queryset)


@admin.register(ImportJob)
class ImportJobAdmin(ModelAdmin):
    """Read-only list of portal import jobs (the portal page is where they are made)."""

    list_display = ["id", "original_name", "uploaded_by", "mode", "status", "created_count", "updated_count",
                    "skipped_count", "created_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "mode"]
    search_fields = ["original_name", "uploaded_by__username"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def get_queryset(self, request):
        return ImportJob.objects.visible_to(request.user).select_related("uploaded_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
