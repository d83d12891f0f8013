"""Showcase case pages: the public library (full-text search, filters), a case page, and the
staff steps (from a selected application with consent; draft → review → published)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import pilot_rules
from apps.reference.models import KeyIndustry, Region, RegionLevel

from . import services
from .models import Application, Case, Element, ScenarioLevel
from .search import filter_cases


class CappedPaginator(Paginator):
    """Counts at most ``CAP`` matches (a broad query can match most of the library; counting
    them all costs more than the page itself). The page then says "more than 200, narrow the search".

    The search runs once: the ids of the first ``CAP + 1`` matches in page order are fetched
    (PostgreSQL walks the newest-first index and stops there; a COUNT(*) subquery loses the
    order and scans every match instead), and a page's rows are then read by primary key
    from ``rows`` rather than by running the full-text filter again with an OFFSET."""

    CAP = 200

    def __init__(self, object_list, per_page, *, rows, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.rows = rows

    @cached_property
    def ids(self) -> list[int]:
        return list(self.object_list.values_list("pk", flat=True)[: self.CAP + 1])

    @cached_property
    def count(self) -> int:
        return len(self.ids)

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = self.ids[bottom:bottom + self.per_page]
        found = self.rows.in_bulk(ids)
        return self._get_page([found[pk] for pk in ids if pk in found], number, self)


def _filter_choices() -> dict:
    """Key industries and provinces for the library's filters: reference data, cached for a
    few minutes so that the public page does not read them on every request."""
    return cache.get_or_set("pilots:case-filter-choices", lambda: {
        "industries": list(KeyIndustry.objects.all()),
        "provinces": list(Region.objects.filter(level=RegionLevel.PROVINCE).order_by("code")),
    }, 300)


def case_library(request):
    """Published cases: search, filters, and for an authority which come from its region."""
    qs = filter_cases(Case.objects.published(), request.GET)
    own_region = pilot_rules.has_own_region(request.user)
    if own_region and request.GET.get("mine"):
        qs = qs.filter(pilot_rules.own_region_q(request.user))
    rows = Case.objects.published().select_related("key_industry", "region")
    page = CappedPaginator(qs, 20, rows=rows).get_page(request.GET.get("page"))
    for case in page.object_list:
        case.in_my_region = pilot_rules.in_own_region(request.user, case.region_id)
    return render(request, "pilots/cases.html", {
        "page": page, "levels": ScenarioLevel.choices, "elements": Element.choices,
        **_filter_choices(), "own_region": own_region, "params": request.GET,
    })


def _report_to_return_to(request) -> int | None:
    """The diagnosis report the reader came from (``?report=<filing id>``), when the reader may
    see it: the case page links back to it."""
    from apps.filings.models import Submission, SubmissionStatus

    pk = request.GET.get("report", "")
    if not pk.isdigit() or len(pk) > 12 or not request.user.is_authenticated:
        return None
    visible = Submission.objects.visible_to(request.user).filter(pk=int(pk), status=SubmissionStatus.ACCEPTED)
    return int(pk) if visible.exists() else None


def case_detail(request, pk: int):
    qs = Case.objects.select_related("key_industry", "industry", "region", "source_application")
    if not pilot_rules.is_pilot_staff(request.user):
        qs = qs.published()
    case = get_object_or_404(qs, pk=pk)
    return render(request, "pilots/case.html", {
        "case": case, "report": _report_to_return_to(request), "is_staff": pilot_rules.is_pilot_staff(request.user),
        "in_my_region": pilot_rules.in_own_region(request.user, case.region_id),
        "history": case.history.order_by("-history_date")[:20] if pilot_rules.is_pilot_staff(request.user) else [],
    })


@login_required
@require_POST
def case_action(request, pk: int):
    if not pilot_rules.is_pilot_staff(request.user):
        raise Http404
    case = get_object_or_404(Case, pk=pk)
    try:
        services.case_transition(case=case, user=request.user, action=request.POST.get("action", ""))
        messages.success(request, _("案例状态已更新。"))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("pilots:case", pk=case.pk)


@login_required
@require_POST
def case_from_application(request, pk: int):
    if not pilot_rules.is_pilot_staff(request.user):
        raise Http404
    app = get_object_or_404(Application, pk=pk)
    try:
        case = services.case_from_application(
            application=app, user=request.user, consent=request.POST.get("consent") == "on",
            consent_note=request.POST.get("consent_note", ""), anonymised=request.POST.get("anonymised") == "on")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("pilots:application", pk=app.pk)
    messages.success(request, _("已生成案例草稿，请补充问题与成效后提交审核。"))
    return redirect("pilots:case", pk=case.pk)
