"""The transfer page for authorities: template and export downloads per period, and the
upload of paper filings (run synchronously: a file of a few thousand rows takes seconds).

Only regional authorities, ministry staff and system admins may use it (others get 403,
anonymous visitors are sent to log in); what they export and import is limited to their
jurisdiction by apps.filings.transfer.
"""

import base64

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.permissions import can_transfer, requires
from apps.enterprises.imports import ImportFileError, errors_csv, max_upload_bytes, validate_uploaded_file
from apps.enterprises.models import ImportMode

from .models import Period
from .transfer import CONTENT_TYPE, submissions_export, submissions_import, submissions_template

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
    """GET: downloads per period and the upload form. POST: import, then show the result."""
    form = TransferUploadForm(request.POST, request.FILES) if request.method == "POST" else TransferUploadForm()
    report = None
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = submissions_import(
                data=upload.read(), filename=upload.name, period=form.cleaned_data["period"], user=request.user,
                mode=form.cleaned_data["mode"], accept=form.cleaned_data["accept"],
            )
        except ImportFileError as exc:
            form.add_error("file", exc.message)
    context = {
        "form": form,
        "periods": form.fields["period"].queryset,
        "report": report,
        "max_mb": max_upload_bytes() // (1024 * 1024),
    }
    if report is not None and report.errors:
        context["errors_shown"] = report.errors[:MAX_ERRORS_SHOWN]
        context["errors_hidden"] = max(0, len(report.errors) - MAX_ERRORS_SHOWN)
        # The report is not stored: the full error list travels with the page as a data: link.
        csv_bytes = errors_csv(errors=[e.as_dict() for e in report.errors])
        context["errors_csv"] = "data:text/csv;charset=utf-8;base64," + base64.b64encode(csv_bytes).decode()
    return render(request, "filings/transfer.html", context)


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
    path("<slug:period_code>/template.xlsx", transfer_template, name="transfer-template"),
    path("<slug:period_code>/export.xlsx", transfer_export, name="transfer-export"),
]
