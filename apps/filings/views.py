"""Filing pages for enterprises (draft, steps, evidence, check and submit) and the review
pages for authorities. Views are thin: state changes are in services.py, every lookup
goes through ``visible_to`` (apps.accounts.scoping)."""

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apps.accounts import review_rules
from apps.accounts.permissions import can_file, can_review, require, requires
from apps.core.http import BadInput, bad_request, int_field, safe_next
from apps.reference.models import Industry, Region

from . import review, services
from .evidence import name_with_detected_extension
from .filters import ReviewQueueFilter
from .models import Evidence, Period, ReturnReason, Submission, SubmissionStatus
from .stepform import IndicatorField, read_step_notes, read_step_post

REVIEW_REFUSED = gettext_lazy("只有主管部门可以审核填报。")
FILE_REFUSED = gettext_lazy("只有企业填报员可以填报诊断。")


def _own_submission(request, pk: int) -> Submission:
    sub = get_object_or_404(
        Submission.objects.visible_to(request.user).select_related("period", "framework", "enterprise"), pk=pk
    )
    require(can_file, request.user, _("只有企业填报员可以编辑填报。"))
    return sub


# --- enterprise ----------------------------------------------------------------------------------


@login_required
def filing_home(request):
    """The enterprise's periods and submissions; reviewers are sent to their queue."""
    if can_review(request.user):
        return redirect("filings:queue")
    require(can_file, request.user, FILE_REFUSED)
    submissions = {s.period_id: s for s in Submission.objects.visible_to(request.user).select_related("period")}
    periods = Period.objects.select_related("framework").order_by("-opens_on")
    rows = [{"period": p, "submission": submissions.get(p.pk), "open": p.is_open()} for p in periods]
    for row in rows:
        sub = row["submission"]
        row["continue_url"] = services.continue_url(submission=sub) if sub and sub.is_editable_by_enterprise else ""
    return render(request, "filings/home.html", {"rows": rows})


@login_required
@require_POST
def filing_start(request, period_code: str):
    require(can_file, request.user, FILE_REFUSED)
    period = get_object_or_404(Period, code=period_code)
    try:
        sub = services.submission_start(enterprise=request.user.enterprise, period=period, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("filings:home")
    return redirect("filings:step", pk=sub.pk, dimension=_first_dimension(sub))


def _first_dimension(sub: Submission) -> str:
    return sub.framework.dimensions.order_by("order", "code").values_list("code", flat=True).first()


def _steps(sub: Submission, indicators, answered_ids: set[int]):
    counts = defaultdict(lambda: [0, 0])
    for ind in indicators:
        counts[ind.dimension_id][1] += 1
        if ind.pk in answered_ids:
            counts[ind.dimension_id][0] += 1
    return [
        {"dimension": d, "answered": counts[d.pk][0], "total": counts[d.pk][1]}
        for d in sub.framework.dimensions.order_by("order", "code")
    ]


def _latest_reasons(sub: Submission) -> dict[int, list[str]]:
    """Reasons of the latest return, by indicator id (None: general note)."""
    event = sub.events.filter(action="returned").order_by("-at", "-pk").first()
    reasons: dict[int, list[str]] = defaultdict(list)
    if event:
        for r in ReturnReason.objects.filter(event=event):
            reasons[r.indicator_id].append(r.reason)
    return reasons


def _fields(
    sub: Submission, indicators, errors: dict[str, str] | None = None, posted: dict | None = None,
    posted_notes: dict | None = None,
) -> list[IndicatorField]:
    answers = {a.indicator_id: a for a in sub.answers.all()}
    evidence = defaultdict(list)
    for e in sub.evidence.all():
        evidence[e.indicator_id].append(e)
    reasons = _latest_reasons(sub) if sub.status == SubmissionStatus.RETURNED else {}
    errors, posted, posted_notes = errors or {}, posted or {}, posted_notes or {}
    return [
        IndicatorField(ind, answers.get(ind.pk), errors.get(ind.code, ""), reasons.get(ind.pk, []), evidence[ind.pk],
                       posted=posted.get(ind.code), posted_note=posted_notes.get(ind.code))
        for ind in indicators
    ]


@login_required
def filing_step(request, pk: int, dimension: str):
    """One step of the multi-step form. POST saves (and moves to the previous/next step)."""
    sub = _own_submission(request, pk)
    if not sub.is_editable_by_enterprise:
        return redirect("filings:detail", pk=sub.pk)
    all_indicators = list(services.applicable_indicators(submission=sub))
    dims = list(sub.framework.dimensions.order_by("order", "code"))
    current = next((d for d in dims if d.code == dimension), None)
    if current is None:
        raise Http404
    indicators = [i for i in all_indicators if i.dimension_id == current.pk]
    errors: dict[str, str] = {}
    raw: dict[str, object] = {}
    notes: dict[str, str] = {}
    conflict = False
    if request.method == "POST":
        try:
            revision = int_field(request.POST, "revision", label=_("修订号"))
        except BadInput as exc:
            return bad_request(request, exc.message)
        raw = read_step_post(indicators, request.POST)
        notes = read_step_notes(indicators, request.POST)
        try:
            sub, errors = services.submission_save_answers(
                submission=sub, user=request.user, answers=raw, revision=revision, notes=notes
            )
        except services.DraftConflict:
            conflict = True
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("filings:detail", pk=sub.pk)
        if not errors and not conflict:
            index = dims.index(current)
            move = request.POST.get("move")
            if move == "next" and index + 1 < len(dims):
                return redirect("filings:step", pk=sub.pk, dimension=dims[index + 1].code)
            if move == "prev" and index > 0:
                return redirect("filings:step", pk=sub.pk, dimension=dims[index - 1].code)
            if move == "check":
                return redirect("filings:check", pk=sub.pk)
            messages.success(request, _("已保存草稿。"))
            return redirect("filings:step", pk=sub.pk, dimension=current.code)
    answered = {a.indicator_id for a in sub.answers.all() if a.value is not None or a.not_measured}
    index = dims.index(current)
    return render(
        request,
        "filings/step.html",
        {
            "submission": sub, "dimension": current, "fields": _fields(sub, indicators, errors, posted=raw, posted_notes=notes),
            "steps": _steps(sub, all_indicators, answered), "conflict": conflict,
            "prev": dims[index - 1] if index > 0 else None, "next": dims[index + 1] if index + 1 < len(dims) else None,
            "answered_total": len(answered & {i.pk for i in all_indicators}), "total": len(all_indicators),
            "general_reasons": _latest_reasons(sub).get(None, []) if sub.status == SubmissionStatus.RETURNED else [],
        },
        status=409 if conflict else (422 if errors else 200),
    )


@login_required
@require_POST
def filing_autosave(request, pk: int, dimension: str):
    """htmx: save the step's fields as they change; answers with a status fragment."""
    sub = _own_submission(request, pk)
    try:
        revision = int_field(request.POST, "revision", label=_("修订号"))
    except BadInput as exc:
        return render(request, "filings/_save_status.html",
                      {"submission": sub, "saved_at": None, "errors": {"": exc.message}, "conflict": False}, status=400)
    indicators = [i for i in services.applicable_indicators(submission=sub) if i.dimension.code == dimension]
    raw = read_step_post(indicators, request.POST)
    notes = read_step_notes(indicators, request.POST)
    context = {"submission": sub, "saved_at": None, "errors": {}, "conflict": False}
    status = 200
    try:
        sub, errors = services.submission_save_answers(
            submission=sub, user=request.user, answers=raw, revision=revision, notes=notes
        )
        context.update(submission=sub, errors=errors, saved_at=timezone.localtime())
        status = 422 if errors else 200
    except services.DraftConflict:
        context["conflict"] = True
        status = 409
    except ValidationError as exc:
        context["errors"] = {"": " ".join(exc.messages)}
        status = 422
    # each indicator's message beside its field (htmx out-of-band), cleared once it saves
    context["field_errors"] = [(i.code, context["errors"].get(i.code, "")) for i in indicators]
    return render(request, "filings/_save_status.html", context, status=status)


@login_required
@require_POST
def evidence_upload(request, pk: int):
    """Upload one evidence file for a question. From the step page's htmx form the answer
    is the question's evidence block (list, control, message beside it; 422 when refused);
    without JavaScript the browser is sent back to ``next`` with a message, as before."""
    sub = _own_submission(request, pk)
    code = request.POST.get("indicator", "")
    indicator = sub.framework.indicators.filter(code=code).first() if code else None
    upload = request.FILES.get("file")
    back = safe_next(request, reverse("filings:detail", args=[sub.pk]))
    error = ""
    if upload is None:
        error = _("请选择要上传的文件。")
    else:
        try:
            services.evidence_add(submission=sub, user=request.user, uploaded_file=upload, indicator=indicator)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if request.headers.get("HX-Request") and indicator is not None:
        field = IndicatorField(indicator, None, evidence=list(sub.evidence.filter(indicator=indicator).order_by("pk")))
        return render(
            request, "filings/_evidence_block.html",
            {"f": field, "evidence_error": error, "evidence_saved": "" if error else upload.name},
            status=422 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("已上传证明材料“%(name)s”。") % {"name": upload.name})
    return HttpResponseRedirect(back)


@login_required
@require_POST
def evidence_delete(request, pk: int, evidence_id: int):
    sub = _own_submission(request, pk)
    evidence = get_object_or_404(Evidence, pk=evidence_id, submission=sub)
    try:
        services.evidence_remove(evidence=evidence, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return HttpResponseRedirect(safe_next(request, reverse("filings:detail", args=[sub.pk])))


@login_required
def evidence_download(request, evidence_id: int):
    """Serve an evidence file to those who may see its submission; others get 404."""
    evidence = get_object_or_404(Evidence.objects.visible_to(request.user), pk=evidence_id)
    response = FileResponse(evidence.file.open("rb"), as_attachment=True,
                            filename=name_with_detected_extension(evidence.original_name, evidence.content_type),
                            content_type=evidence.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


@login_required
def filing_check(request, pk: int):
    """What is missing, the pledge, and the submit button."""
    sub = _own_submission(request, pk)
    if request.method == "POST":
        try:
            result = services.submission_submit(
                submission=sub, user=request.user, pledge=request.POST.get("pledge") == "on"
            )
        except ValidationError as exc:
            messages.error(request, _("未能提交：") + "；".join(exc.messages))
        else:
            if not result.already_submitted:
                messages.success(request, _("已提交，等待主管部门审核。"))
            return redirect("filings:detail", pk=sub.pk)
    if not sub.is_editable_by_enterprise:
        return redirect("filings:detail", pk=sub.pk)
    missing = services.missing_answers(submission=sub)
    returned = []
    if sub.status == SubmissionStatus.RETURNED:
        reasons = _latest_reasons(sub)
        indicators = {i.pk: i for i in sub.framework.indicators.select_related("dimension").filter(pk__in=[k for k in reasons if k])}
        returned = [(indicators.get(k), texts) for k, texts in reasons.items()]
    return render(
        request, "filings/check.html",
        {"submission": sub, "missing": missing, "evidence_problems": services.evidence_problems(submission=sub),
         "returned": returned},
    )


@login_required
def filing_detail(request, pk: int):
    """Read-only view of a filing: answers, evidence, history; reviewers get the review page."""
    sub = get_object_or_404(
        Submission.objects.visible_to(request.user).select_related("period", "framework", "enterprise__region"), pk=pk
    )
    if can_review(request.user):
        return _review_page(request, sub)
    indicators = list(services.applicable_indicators(submission=sub))
    fields = _fields(sub, indicators)
    by_dimension = defaultdict(list)
    for f in fields:
        by_dimension[f.indicator.dimension].append(f)
    events = sub.events.select_related("actor").prefetch_related("reasons__indicator")
    return render(
        request, "filings/detail.html",
        {"submission": sub, "by_dimension": dict(by_dimension), "events": events,
         "is_owner": can_file(request.user, sub.enterprise)},
    )


# --- review ------------------------------------------------------------------------------------------


def _review_page(request, sub: Submission):
    """The compact review page: answers grouped by dimension (collapsible), a "return this
    item" control per item, hints linking to their items, the decision bar the review chain
    allows this reviewer, and — after a resubmission — the items changed since the return
    (``?changed=1``) with the reason given then."""
    indicators = list(services.applicable_indicators(submission=sub))
    fields = _fields(sub, indicators)
    comparison = review.changes_since_return(submission=sub) if sub.status != SubmissionStatus.RETURNED else None
    only_changed = request.GET.get("changed") == "1" and comparison is not None
    groups = review.review_groups(fields, flags=sub.flags or [], comparison=comparison, only_changed=only_changed)
    user = request.user
    events = sub.events.select_related("actor").prefetch_related("reasons__indicator")
    return render(
        request, "filings/review.html",
        {"submission": sub, "groups": groups, "events": events, "comparison": comparison,
         "only_changed": only_changed, "item_count": len(fields),
         "may_accept": review_rules.can_accept(user, sub), "may_pass_on": review_rules.can_pass_on(user, sub),
         "may_return": review_rules.can_return(user, sub), "stage_label": review_rules.stage_label(sub)},
    )


@requires(can_review, REVIEW_REFUSED)
def review_queue(request):
    """Filings to review in the jurisdiction. The default filter (待审核) is shown selected
    and applied from the first visit; regions and industries are chosen by name."""
    base = (
        Submission.objects.visible_to(request.user)
        .exclude(status=SubmissionStatus.DRAFT)
        .select_related("enterprise", "period")
    )
    filterset = ReviewQueueFilter(ReviewQueueFilter.with_defaults(request.GET), queryset=base, user=request.user)
    qs = filterset.qs if filterset.is_valid() else base.none()
    page = Paginator(qs.order_by("submitted_at", "pk"), 50).get_page(request.GET.get("page"))
    rows = list(page)
    region_names = dict(Region.objects.filter(code__in={s.county_code for s in rows}).values_list("code", "name"))
    division_names = dict(
        Industry.objects.filter(code__in={s.division_code for s in rows}).values_list("code", "name")
    )
    for s in rows:
        s.region_name = region_names.get(s.county_code, s.county_code)
        s.division_name = division_names.get(s.division_code, s.division_code)
        s.stage_label = review_rules.stage_label(s) if review_rules.needs_county_stage(s) else ""
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "filings/queue.html",
                  {"filter": filterset, "page": page, "rows": rows, "query": params.urlencode()})


@requires(can_review, REVIEW_REFUSED)
@require_POST
def review_return(request, pk: int):
    sub = get_object_or_404(Submission.objects.visible_to(request.user), pk=pk)
    reasons = {key[len("reason-"):]: value for key, value in request.POST.items() if key.startswith("reason-")}
    try:
        services.submission_return(submission=sub, user=request.user, reasons=reasons, note=request.POST.get("note", ""))
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    else:
        messages.success(request, _("已退回企业修改。"))
    return redirect("filings:detail", pk=sub.pk)


def _decide(request, pk: int, decision, done: str):
    """One review decision from the page: the service decides (and refuses with a message)."""
    sub = get_object_or_404(Submission.objects.visible_to(request.user), pk=pk)
    try:
        decision(submission=sub, user=request.user, note=request.POST.get("note", ""))
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("filings:detail", pk=sub.pk)


@requires(can_review, REVIEW_REFUSED)
@require_POST
def review_accept(request, pk: int):
    return _decide(request, pk, services.submission_accept, _("已审核通过，系统正在计算得分。"))


@requires(can_review, REVIEW_REFUSED)
@require_POST
def review_pass_on(request, pk: int):
    """County review of a two-level chain: pass the filing on to the prefecture level."""
    return _decide(request, pk, review.submission_pass_on, _("已初审通过，转报地市级主管部门审核。"))


@requires(can_review, REVIEW_REFUSED)
@require_POST
def review_bulk_accept(request):
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    accepted, skipped = services.submission_bulk_accept(submission_ids=ids, user=request.user)
    messages.success(
        request, _("批量审核通过 %(a)d 份；%(s)d 份有自动提示或状态不符，未处理，请逐份审核。") % {"a": accepted, "s": skipped}
    )
    return HttpResponseRedirect(safe_next(request, reverse("filings:queue")))


