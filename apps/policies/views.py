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
from django.shortcuts import get_object_or_404, redirect, render
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


# --- policies: list, page ------------------------------------------------------------------


def policy_list(request):
    """Policies the visitor may read (public ones for everyone), filtered and searched."""
    from apps.reference.models import KeyIndustry

    from .models import Instrument, PolicyLevel, PolicyStatus
    from .selectors import policies_for, policy_search

    qs = policy_search(policies_for(request.user), request.GET)
    page = Paginator(qs.order_by("-issued_on", "title"), 20).get_page(request.GET.get("page"))
    years = sorted({d.year for d in policies_for(request.user).dates("issued_on", "year")}, reverse=True)
    return render(request, "policies/list.html", {
        "page": page, "params": request.GET, "levels": PolicyLevel.choices, "statuses": PolicyStatus.choices,
        "instruments": Instrument.choices, "industries": KeyIndustry.objects.order_by("code"), "years": years,
        "can_track": is_policy_reader(request.user),
    })


def policy_detail(request, pk: int):
    from .selectors import policies_for, policy_reach, tracks_for

    policy = get_object_or_404(policies_for(request.user), pk=pk)
    measures = list(policy.measures.prefetch_related("targets__baseline_period"))
    from .selectors import cell_names

    targets = [t for m in measures for t in m.targets.all()]
    tracks = {t.target.pk: t for t in tracks_for(request.user, targets)}
    for pk, name in cell_names(targets).items():
        tracks[pk].cell_name = name
    visible_chain = set(policies_for(request.user).values_list("pk", flat=True))
    chain = [p for p in policy.supersession_chain() if p.pk in visible_chain]
    successor = policy.superseded_by if policy.superseded_by_id in visible_chain else None
    return render(request, "policies/detail.html", {
        "policy": policy, "successor": successor, "can_see_history": is_policy_reader(request.user), "measures": [(m, [tracks[t.pk] for t in m.targets.all()]) for m in measures],
        "chain": chain, "reach": policy_reach(request.user, policy),
    })


# --- authorities: tracking dashboard, notes, impact -------------------------------------------


@login_required
def tracking(request):
    """The targets of the user's region (ministry: all), off-track first, with charts;
    ``?print=1`` is the A4 version."""
    from .forms import ProgressNoteForm
    from .selectors import dashboard_tracks

    _require_reader(request.user)
    tracks = dashboard_tracks(request.user)
    from apps.accounts.policy_rules import policies_editable_q

    from .models import Policy

    editable = set(Policy.objects.filter(policies_editable_q(request.user)).values_list("pk", flat=True))
    from .selectors import cell_names

    names = cell_names(t.target for t in tracks)
    for t in tracks:
        t.cell_name = names[t.target.pk]
    labels = {"actual": _("实际值"), "planned": _("计划值"), "target": _("目标值"), "projection": _("预测"),
              "interval": _("95% 预测区间"), "hidden": _("部分期次的数值不公开")}
    return render(request, "policies/tracking.html", {
        "tracks": tracks, "charts": [t.chart() for t in tracks], "chart_labels": labels, "editable": editable,
        "note_form": ProgressNoteForm(),
    })


@login_required
def progress_note(request, pk: int):
    from apps.accounts.policy_rules import policies_editable_q

    from .forms import ProgressNoteForm
    from .models import Target
    from .services import progress_note_add

    _require_reader(request.user)
    if request.method != "POST":
        raise Http404
    target = get_object_or_404(Target.objects.filter(policies_editable_q(request.user, "measure__policy")), pk=pk)
    form = ProgressNoteForm(request.POST)
    if form.is_valid():
        progress_note_add(target=target, user=request.user, text=form.cleaned_data["text"])
        messages.success(request, _("进展说明已保存。"))
    else:
        messages.error(request, _("请填写进展说明。"))
    return redirect(reverse("policies:tracking") + f"#target-{target.pk}")


@login_required
def impact(request):
    """Support impact of a policy's measures between two periods (enterprises of the user's
    jurisdiction), as an association with its 95 % interval, or 数据不足."""
    from apps.filings.models import Period

    from .selectors import policies_for
    from .services import support_impact

    _require_reader(request.user)
    policies = policies_for(request.user).filter(measures__support_records__isnull=False).distinct().order_by("title")
    periods = list(Period.objects.filter(index_runs__is_published=True).distinct().order_by("opens_on"))
    chosen = estimate = None
    policy_id = request.GET.get("policy", "")
    before = next((p for p in periods if p.code == request.GET.get("before")), periods[-2] if len(periods) > 1 else None)
    after = next((p for p in periods if p.code == request.GET.get("after")), periods[-1] if periods else None)
    if policy_id.isdigit():
        chosen = get_object_or_404(policies_for(request.user), pk=int(policy_id))
    elif policies:
        chosen = policies[0]
    if chosen and before and after and before.opens_on < after.opens_on:
        estimate = support_impact(user=request.user, measures=chosen.measures.all(), before_period=before,
                                  after_period=after)
    return render(request, "policies/impact.html", {
        "policies": policies, "periods": periods, "chosen": chosen, "before": before, "after": after,
        "estimate": estimate,
    })


@login_required
def policy_history(request, pk: int):
    """Who changed what and when in a policy, its measures and targets (policy readers)."""
    from .selectors import policies_for, policy_change_log

    _require_reader(request.user)
    policy = get_object_or_404(policies_for(request.user), pk=pk)
    return render(request, "policies/history.html", {"policy": policy, "entries": policy_change_log(policy)})
