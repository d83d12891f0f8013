"""Portal pages for bulk import: upload a file, follow the background job, download its errors.

Only regional authorities, ministry staff and system admins may import (enterprise users
and experts get 403, anonymous visitors are sent to log in). The upload creates an
:class:`~apps.enterprises.models.ImportJob`; a Celery worker runs it
(:func:`apps.enterprises.tasks.run_import_job`). A user sees only their own jobs
(ministry staff and system admins: all); someone else's job is a 404.
"""

import tablib
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.permissions import can_import_enterprises
from apps.core.models import ImportMode
from apps.core.spreadsheets import errors_csv, max_upload_bytes, validate_uploaded_file

from .imports import (
    enterprises_export,
    import_job_create,
    import_job_progress,
    render_export,
)
from .models import ImportEncoding, ImportJob
from .resources import (
    ADDRESS,
    CONTACT_EMAIL,
    CONTACT_NAME,
    CONTACT_PHONE,
    COUNTY,
    EMPLOYEES,
    IMPORT_COLUMNS,
    INDUSTRY,
    KEY_INDUSTRIES,
    NAME,
    REQUIRED_COLUMNS,
    REVENUE,
    USCC,
)

#: Shown on the upload page next to each column.
COLUMN_NOTES = {
    USCC: gettext_lazy("18位，按此列匹配：已登记的企业更新，未登记的新增"),
    NAME: gettext_lazy("营业执照上的全称"),
    COUNTY: gettext_lazy("6位区县级行政区划代码，例如 320102"),
    INDUSTRY: gettext_lazy("GB/T 4754-2017 制造业大类（2位）或中类（3位）代码"),
    KEY_INDUSTRIES: gettext_lazy("可空；名称或代码，多个用“；”或“、”分隔"),
    EMPLOYEES: gettext_lazy("整数，单位：人"),
    REVENUE: gettext_lazy("单位：万元，最多两位小数"),
    ADDRESS: gettext_lazy("可空"),
    CONTACT_NAME: "",
    CONTACT_PHONE: "",
    CONTACT_EMAIL: gettext_lazy("可空"),
}
MAX_ERRORS_SHOWN = 500


def _require_importer(user) -> None:
    if not can_import_enterprises(user):
        raise PermissionDenied(_("只有主管部门和平台工作人员可以批量导入企业。"))


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("企业信息文件"),
        help_text=gettext_lazy("CSV（UTF-8 或 GBK 编码）或 Excel 工作簿（.xlsx）；第一行为表头。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("导入方式"),
        choices=ImportMode.choices,
        initial=ImportMode.ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )
    encoding = forms.ChoiceField(
        label=gettext_lazy("CSV 文件编码"),
        choices=ImportEncoding.choices,
        initial=ImportEncoding.AUTO,
        help_text=gettext_lazy("只对 CSV 文件有效。Excel 另存的“CSV（逗号分隔）”是 GBK，“CSV UTF-8”是 UTF-8。"),
    )

    def clean_file(self):
        return validate_uploaded_file(self.cleaned_data["file"])


@login_required
@require_http_methods(["GET", "POST"])
def enterprise_import(request):
    """GET: the upload form and the user's recent jobs. POST: create a job and go to its page."""
    _require_importer(request.user)
    form = ImportUploadForm(request.POST, request.FILES) if request.method == "POST" else ImportUploadForm()
    if form.is_bound and form.is_valid():
        job = import_job_create(
            uploaded_file=form.cleaned_data["file"],
            user=request.user,
            mode=form.cleaned_data["mode"],
            encoding=form.cleaned_data["encoding"],
            language=translation.get_language(),
        )
        return redirect("enterprises:import-job", pk=job.pk)
    jobs = ImportJob.objects.filter(uploaded_by=request.user).order_by("-created_at", "-pk")[:10]
    columns = [(c, c in REQUIRED_COLUMNS, COLUMN_NOTES.get(c, "")) for c in IMPORT_COLUMNS]
    return render(
        request,
        "enterprises/import.html",
        {"form": form, "jobs": jobs, "columns": columns, "max_mb": max_upload_bytes() // (1024 * 1024)},
    )


@login_required
@require_GET
def import_job_detail(request, pk: int):
    """The job's status and error report; htmx polls the status fragment while it runs."""
    job = get_object_or_404(ImportJob.objects.visible_to(request.user).select_related("uploaded_by"), pk=pk)
    context = {
        "job": job,
        "errors_shown": job.errors[:MAX_ERRORS_SHOWN],
        "errors_hidden": max(0, len(job.errors) - MAX_ERRORS_SHOWN),
        "progress": {} if job.is_finished else import_job_progress(job),
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "enterprises/_import_job_status.html", context)
    return render(request, "enterprises/import_job.html", context)


@login_required
@require_GET
def import_job_errors_csv(request, pk: int):
    """The job's error report as CSV (UTF-8 with BOM, opens in Excel)."""
    job = get_object_or_404(ImportJob.objects.visible_to(request.user), pk=pk)
    response = HttpResponse(errors_csv(errors=job.errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@login_required
@require_GET
def enterprise_export(request, fmt: str):
    """The enterprises the user may see, as CSV or XLSX (the same columns as the import)."""
    _require_importer(request.user)
    if fmt not in _CONTENT_TYPES:
        raise Http404
    data = enterprises_export(user=request.user, file_format=fmt)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(data, content_type=_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="enterprises-{stamp}.{fmt}"'
    return response


@login_required
@require_GET
def import_template(request, fmt: str):
    """An empty file with the import header row."""
    _require_importer(request.user)
    if fmt not in _CONTENT_TYPES:
        raise Http404
    data = render_export(dataset=tablib.Dataset(headers=list(IMPORT_COLUMNS)), file_format=fmt)
    response = HttpResponse(data, content_type=_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="enterprise-import-template.{fmt}"'
    return response


# Included by apps/enterprises/urls.py at "import/" (namespace "enterprises"); the upload page
# itself is enterprises:import → views.enterprise_import → enterprise_import above.
urlpatterns = [
    path("jobs/<int:pk>/", import_job_detail, name="import-job"),
    path("jobs/<int:pk>/errors.csv", import_job_errors_csv, name="import-job-errors"),
    path("template.<str:fmt>", import_template, name="import-template"),
    path("export.<str:fmt>", enterprise_export, name="export"),
]
