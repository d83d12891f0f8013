"""Portal pages for ministry staff: index runs of every period — start, watch, preview,
publish with confirmation, roll back — with the periods and framework versions they use.

Who may do this is decided in :mod:`apps.accounts.workbench_rules`; everyone else logged in
gets 403 (the pages hold no enterprise data, so their existence is no secret).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.workbench_rules import can_publish_indices, can_run_indices
from apps.filings.models import Period, SubmissionStatus
from apps.frameworks.models import Framework

from .models import IndexRun, RunStatus
from .preview import run_preview
from .services import (
    index_run_publish,
    index_run_rollback,
    index_run_start,
    previously_published_run,
    published_run,
    revision_refusal,
    still_recorded_blockers,
)

RECENT_RUNS = 20
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("只有部委工作人员和系统管理员可以管理指数计算。"))


def _periods():
    return list(
        Period.objects.select_related("framework")
        .annotate(accepted=Count("submissions", filter=Q(submissions__status=SubmissionStatus.ACCEPTED)))
        .order_by("-opens_on")
    )


@login_required
def run_list(request):
    """Periods (with their published and active runs), recent runs, framework versions."""
    _require(can_run_indices(request.user))
    periods = _periods()
    runs = list(IndexRun.objects.select_related("period", "created_by").order_by("-created_at")[:RECENT_RUNS])
    published = {r.period_id: r for r in IndexRun.objects.filter(is_published=True)}
    active = {r.period_id: r for r in IndexRun.objects.filter(status__in=ACTIVE)}
    for p in periods:
        p.published_run, p.active_run = published.get(p.pk), active.get(p.pk)
    frameworks = list(Framework.objects.order_by("code", "-created_at"))
    return render(request, "indices/runs.html", {
        "periods": periods, "runs": runs, "frameworks": frameworks, "can_publish": can_publish_indices(request.user),
    })  # fmt: skip


@login_required
@require_POST
def run_start(request):
    _require(can_run_indices(request.user))
    period = get_object_or_404(Period, code=request.POST.get("period", ""))
    try:
        run = index_run_start(period=period, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("indices:runs")
    messages.success(request, _("已开始计算%(period)s的指数（计算编号 %(id)s）。") % {"period": period.name, "id": run.pk})
    return redirect("indices:run", run.pk)


def _run_or_404(pk: int) -> IndexRun:
    return get_object_or_404(IndexRun.objects.select_related("period", "framework", "created_by", "published_by"), pk=pk)


@login_required
def run_detail(request, pk: int):
    """A run: progress while computing; when done, what publishing it would change."""
    _require(can_run_indices(request.user))
    run = _run_or_404(pk)
    current = published_run(run.period)
    preview = refusal = None
    revision_state = ""
    if run.status == RunStatus.SUCCEEDED and not run.is_published:
        preview = run_preview(run=run, against=current, user=request.user)
        # the revision check recorded at the join, while it holds (checking again here
        # would take seconds at national scale: the publish does it when it must)
        blockers = None if run.published_at else still_recorded_blockers(run)
        refusal = revision_refusal(run, blockers) if blockers else None
        if run.published_at:
            revision_state = "republish"  # the public has seen it: no check (index_run_publish)
        else:
            revision_state = "unknown" if blockers is None else ("blocked" if refusal else "clear")
    return render(request, "indices/run_detail.html", {
        "run": run, "current": current, "preview": preview, "revision_state": revision_state, "refusal": refusal,
        "previous": previously_published_run(run.period) if run.is_published else None,
        "can_publish": can_publish_indices(request.user),
        "protection_pct": f"{100 * float((run.audit.get('protection') or {}).get('p') or 0):g}",
    })  # fmt: skip


@login_required
def run_progress(request, pk: int):
    """htmx fragment: the run's progress (polls itself while the run is queued or running)."""
    _require(can_run_indices(request.user))
    return render(request, "indices/_run_progress.html", {"run": _run_or_404(pk)})


@login_required
def run_publish(request, pk: int):
    """GET: the changes and a confirmation; POST (confirmed): publish."""
    _require(can_publish_indices(request.user))
    run = _run_or_404(pk)
    current = published_run(run.period)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error = _("请勾选“我已核对以上变化”后再发布。")
        else:
            try:
                index_run_publish(run=run, user=request.user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                messages.success(request, _("%(period)s的指数已发布（计算编号 %(id)s），公开页面和各地数据随即更新。")
                                 % {"period": run.period.name, "id": run.pk})
                return redirect("indices:run", run.pk)
    preview = run_preview(run=run, against=current, user=request.user) if run.status == RunStatus.SUCCEEDED else None
    return render(request, "indices/run_publish.html",
                  {"run": run, "current": current, "preview": preview, "error": error},
                  status=400 if error else 200)


@login_required
def period_rollback(request, code: str):
    """GET: which run would be published again; POST (confirmed): roll back."""
    _require(can_publish_indices(request.user))
    period = get_object_or_404(Period, code=code)
    current, previous = published_run(period), previously_published_run(period)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error = _("请勾选确认后再回滚。")
        else:
            try:
                run = index_run_rollback(period=period, user=request.user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                messages.success(request, _("%(period)s已回滚到计算编号 %(id)s 的结果。") % {"period": period.name, "id": run.pk})
                return redirect("indices:run", run.pk)
    return render(request, "indices/period_rollback.html",
                  {"period": period, "current": current, "previous": previous, "error": error},
                  status=400 if error else 200)
