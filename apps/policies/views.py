"""Pages of the policies app (thin: reads in selectors, changes in services).

Access: policy lists and pages of public policies are open to everyone; internal
policies, the tracking dashboard, support records and the impact page follow
:mod:`apps.accounts.policy_rules` — anonymous visitors log in, other roles get 403, an
object outside the user's scope is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.accounts.policy_rules import can_see_support_records, is_policy_reader, policies_visible_q

from .forms import SupportImportForm
from .models import Measure, SupportRecord
from .services import SupportImportError, support_records_export, support_records_import

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _require_reader(user) -> None:
    if not is_policy_reader(user):
        raise PermissionDenied


def _support_queryset(request):
    qs = SupportRecord.objects.visible_to(request.user).select_related("enterprise", "measure__policy")
    qs = qs.filter(policies_visible_q(request.user, "measure__policy"))
    if request.GET.get("measure", "").isdigit():
        qs = qs.filter(measure_id=int(request.GET["measure"]))
    if request.GET.get("policy", "").isdigit():
        qs = qs.filter(measure__policy_id=int(request.GET["policy"]))
    return qs


@login_required
def support_list(request):
    """Support records of the enterprises the user may see."""
    if not can_see_support_records(request.user):
        raise PermissionDenied
    page = Paginator(_support_queryset(request), 50).get_page(request.GET.get("page"))
    return render(request, "policies/support_list.html", {"page": page, "query": request.GET.urlencode()})


@login_required
def support_export(request, fmt: str):
    if not can_see_support_records(request.user):
        raise PermissionDenied
    if fmt not in CONTENT_TYPES:
        raise Http404
    body = support_records_export(user=request.user, file_format=fmt, queryset=_support_queryset(request))
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="support-records.{fmt}"'
    return response


@login_required
def support_import(request):
    """Upload a support file (all or nothing; errors per row with the USCC)."""
    if not can_see_support_records(request.user):
        raise PermissionDenied
    measures = Measure.objects.filter(policies_visible_q(request.user, "policy"))
    form = SupportImportForm(request.POST or None, request.FILES or None, measures=measures)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = support_records_import(
                data=upload.read(), filename=upload.name, user=request.user,
                measure=form.cleaned_data["measure"], encoding=form.cleaned_data["encoding"])
        except SupportImportError as exc:
            form.add_error("file", exc.message)
        except ValidationError as exc:
            form.add_error(None, exc)
        if report and not report["errors"]:
            messages.success(request, _("已导入 %(n)d 条支持记录。") % {"n": report["created"]})
            return redirect(reverse("policies:support"))
    return render(request, "policies/support_import.html", {"form": form, "report": report})
