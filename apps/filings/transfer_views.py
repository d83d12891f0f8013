"""The transfer page for authorities: template and export downloads per period, and the
upload of paper filings, imported by a background job (apps.filings.transfer_jobs) whose page
shows its row counter and then its report.

Only regional authorities, ministry staff and system admins may use it (others get 403,
anonymous visitors are sent to log in); what they export and import is limited to their
jurisdiction by apps.filings.transfer.
"""

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.permissions import can_transfer, import_jobs_visible_to, requires
from apps.core.models import ImportMode
from apps.core.spreadsheets import errors_csv, max_upload_bytes, validate_uploaded_file

from .models import Period, SubmissionImportJob
from .transfer import CONTENT_TYPE, submissions_export, submissions_template
from .transfer_jobs import submission_import_job_create, submission_import_job_progress

MAX_ERRORS_SHOWN = 500


TRANSFER_REFUSED = gettext_lazy("只有主管部门和平台工作人员可以导入导出诊断填报。")


class TransferUploadForm(forms.Form):
    period = forms.ModelChoiceField(
        label=gettext_lazy("期次"), queryset=Period.objects.select_related("framework").order_by("-opens_on"),
        to_field_name="code", empty_label=None,
    )
    file = forms.FileField(
        label=gettext_lazy("填报数据文件"),
        help_text=gettext_lazy("Excel 工作簿（.xlsx），使用该期次的模板或导出文件；数据在第一个工作表，第一行为表头。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("导入方式"), choices=ImportMode.choices, initial=ImportMode.ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )
    accept = forms.BooleanField(
        label=gettext_lazy("同时审核通过"), required=False,
        help_text=gettext_lazy("勾选后，导入的填报直接审核通过并计算得分；不勾选则进入“待审核”。"),
    )

    def clean_file(self):
        return validate_uploaded_file(self.cleaned_data["file"])


def _xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@requires(can_transfer, TRANSFER_REFUSED)
@require_http_methods(["GET", "POST"])
def transfer_page(request):
    """GET: downloads per period, the upload form and the user's recent imports. POST: store
    the file as a background import job and go to its page."""
    form = TransferUploadForm(request.POST, request.FILES) if request.method == "POST" else TransferUploadForm()
    if form.is_bound and form.is_valid():
        job = submission_import_job_create(
            uploaded_file=form.cleaned_data["file"], period=form.cleaned_data["period"], user=request.user,
            mode=form.cleaned_data["mode"], accept=form.cleaned_data["accept"], language=translation.get_language(),
        )  # fmt: skip
        return redirect("filings:transfer-job", pk=job.pk)
    context = {
        "form": form,
        "periods": form.fields["period"].queryset,
        "jobs": import_jobs_visible_to(SubmissionImportJob.objects.select_related("period"), request.user)[:10],
        "max_mb": max_upload_bytes() // (1024 * 1024),
    }
    return render(request, "filings/transfer.html", context)


def _visible_job(request, pk: int) -> SubmissionImportJob:
    jobs = import_jobs_visible_to(SubmissionImportJob.objects.select_related("period", "uploaded_by"), request.user)
    return get_object_or_404(jobs, pk=pk)


@requires(can_transfer, TRANSFER_REFUSED)
@require_GET
def transfer_job(request, pk: int):
    """A paper-filing import's status, row counter and report; htmx polls while it runs."""
    job = _visible_job(request, pk)
    context = {
        "job": job,
        "progress": {} if job.is_finished else submission_import_job_progress(job),
        "errors_shown": job.errors[:MAX_ERRORS_SHOWN],
        "errors_hidden": max(0, len(job.errors) - MAX_ERRORS_SHOWN),
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "filings/_transfer_job_status.html", context)
    return render(request, "filings/transfer_job.html", context)


@requires(can_transfer, TRANSFER_REFUSED)
@require_GET
def transfer_job_errors(request, pk: int):
    """The job's error report as CSV (UTF-8 with BOM, opens in Excel)."""
    job = _visible_job(request, pk)
    response = HttpResponse(errors_csv(errors=job.errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="submission-import-{job.pk}-errors.csv"'
    return response


@requires(can_transfer, TRANSFER_REFUSED)
@require_GET
def transfer_template(request, period_code: str):
    """An empty workbook with the period's indicator columns and the 填写说明 sheet."""
    period = get_object_or_404(Period.objects.select_related("framework"), code=period_code)
    return _xlsx_response(submissions_template(period=period), f"submissions-template-{period.code}.xlsx")


@requires(can_transfer, TRANSFER_REFUSED)
@require_GET
def transfer_export(request, period_code: str):
    """The period's submissions inside the user's jurisdiction, with answers and scores."""
    period = get_object_or_404(Period.objects.select_related("framework"), code=period_code)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _xlsx_response(submissions_export(period=period, user=request.user), f"submissions-{period.code}-{stamp}.xlsx")


# To be included by apps/filings/urls.py at "transfer/" (namespace "filings"):
#     path("transfer/", include(transfer_views.urlpatterns)),
urlpatterns = [
    path("", transfer_page, name="transfer"),
    path("jobs/<int:pk>/", transfer_job, name="transfer-job"),
    path("jobs/<int:pk>/errors.csv", transfer_job_errors, name="transfer-job-errors"),
    path("<slug:period_code>/template.xlsx", transfer_template, name="transfer-template"),
    path("<slug:period_code>/export.xlsx", transfer_export, name="transfer-export"),
]
