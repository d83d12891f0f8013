"""Pilot selection pages. Thin: reads through selectors and the scoped querysets of
apps.accounts.pilot_rules (404 outside them), changes through services (their messages shown
as they are)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import pilot_rules
from apps.accounts.scoping import recommending_unit_of
from apps.enterprises.models import Enterprise

from . import selectors, services
from .forms import (
    MAX_SCENARIOS,
    CallForm,
    CriterionFormSet,
    DefenceSlotForm,
    ObjectionForm,
    ObjectionHandleForm,
    ScenarioForm,
)
from .models import (
    AggregateResult,
    Application,
    ApplicationStatus,
    Assignment,
    Call,
    CallStatus,
    Expert,
    Objection,
    Review,
)


def _fail(request, exc: Exception) -> None:
    messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))


def _score_from(request, refusal: str) -> float | None:
    """The posted score as a number, or None after telling the clerk (the service checks the range)."""
    try:
        return float(request.POST.get("score", ""))
    except ValueError:
        messages.error(request, refusal)
        return None


def _run(request, action, *args, success: str = "", **kwargs):
    """Call a service; show its refusal as a message. Returns the result or None."""
    try:
        result = action(*args, **kwargs)
    except (ValidationError, PermissionDenied) as exc:
        _fail(request, exc)
        return None
    if success:
        messages.success(request, success)
    return result


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


# --- home: what each role can do -------------------------------------------------------------


def pilot_home(request):
    """Calls with what the visitor may do in each: apply, recommend, manage, review, read the notice."""
    user = request.user
    calls = Call.objects.exclude(status=CallStatus.DRAFT).order_by("-year", "-applications_open_on")
    own = {}
    if pilot_rules.is_enterprise_applicant(user):
        own = {a.call_id: a for a in pilot_rules.applications_visible_to(user)}
    context = {
        "calls": [{"call": c, "application": own.get(c.pk),
                   "can_apply": c.in_window("application"), "notice": _notice_public(c)}
                  for c in calls],
        "is_applicant": pilot_rules.is_enterprise_applicant(user),
        "unit": recommending_unit_of(user),
        "is_staff": pilot_rules.is_pilot_staff(user),
        "drafts": Call.objects.filter(status=CallStatus.DRAFT) if pilot_rules.is_pilot_staff(user) else [],
        "expert": pilot_rules.expert_of(user),
        "assignments": selectors.assigned_reviews_for(user)[:50],
    }
    return render(request, "pilots/home.html", context)


# --- enterprise -----------------------------------------------------------------------------


@login_required
@require_POST
def application_start(request, call_id: int):
    call = get_object_or_404(Call.objects.exclude(status=CallStatus.DRAFT), pk=call_id)
    app = _run(request, services.application_start, call=call, user=request.user)
    return redirect("pilots:application", pk=app.pk) if app else redirect("pilots:home")


def _visible_application(request, pk: int) -> Application:
    return get_object_or_404(
        pilot_rules.applications_visible_to(request.user).select_related("call", "enterprise", "recommending_unit"), pk=pk
    )


def _scenario_forms(app: Application, data=None):
    initial = [{"title": s.title, "level": s.level, "elements": s.elements, "text": s.text} for s in app.scenarios.all()]
    initial += [{}] * (MAX_SCENARIOS - len(initial))
    return [ScenarioForm(data, prefix=f"s{i}", initial=initial[i]) for i in range(MAX_SCENARIOS)]


def _read_post(request, app: Application):
    forms = _scenario_forms(app, request.POST)
    scenarios = []
    for f in forms:
        f.is_valid()
        scenarios.append({k: f.cleaned_data.get(k, "") for k in ("title", "level", "elements", "text")})
    post = request.POST
    fields = {
        "employer_group": post.get("employer_group", "").strip()[:200],
        "declares_legal_person": post.get("declares_legal_person") == "on",
        "declares_good_credit": post.get("declares_good_credit") == "on",
        "declares_no_accident": post.get("declares_no_accident") == "on",
    }
    return fields, scenarios


@login_required
def application_detail(request, pk: int):
    """The applicant's own page: the draft form while editable, and every outcome."""
    app = _visible_application(request, pk)
    editable = pilot_rules.can_edit_application(request.user, app) and app.status in (
        ApplicationStatus.DRAFT, ApplicationStatus.RETURNED) and app.call.in_window("application")
    if request.method == "POST":
        if not editable:
            raise PermissionDenied(_("该申报当前不能修改。"))
        fields, scenarios = _read_post(request, app)
        try:
            app = services.application_save(application=app, user=request.user, revision=int(request.POST.get("revision", -1)),
                                            fields=fields, scenarios=scenarios)
        except services.DraftConflict:
            messages.error(request, _("该申报已在其他窗口保存，请刷新页面后再修改。"))
            return redirect("pilots:application", pk=app.pk)
        except ValidationError as exc:
            _fail(request, exc)
            return render(request, "pilots/application.html", _application_context(request, app, editable, request.POST))
        if request.POST.get("action") == "submit":
            if _run(request, services.application_submit, application=app, user=request.user,
                    success=_("申报已提交，等待推荐单位推荐。")):
                return redirect("pilots:application", pk=app.pk)
        else:
            messages.success(request, _("草稿已保存。"))
        return redirect("pilots:application", pk=app.pk)
    return render(request, "pilots/application.html", _application_context(request, app, editable))


def _application_context(request, app, editable, data=None):
    return {
        "app": app, "editable": editable, "forms": _scenario_forms(app, data),
        "events": app.events.select_related("actor").order_by("at", "pk"),
        "attachments": app.attachments.all(), "result": getattr(app, "result", None),
        "checks": app.eligibility_checks, "is_staff": pilot_rules.is_pilot_staff(request.user), "can_withdraw": pilot_rules.can_edit_application(request.user, app)
        and app.status in (ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED)
        and app.call.in_window("application"),
    }


@login_required
@require_POST
def application_autosave(request, pk: int):
    """htmx autosave of the draft: returns the save status with the new revision."""
    app = _visible_application(request, pk)
    fields, scenarios = _read_post(request, app)
    status, text = 200, ""
    try:
        app = services.application_save(application=app, user=request.user, revision=int(request.POST.get("revision", -1)),
                                        fields=fields, scenarios=scenarios)
        text = _("已自动保存")
    except services.DraftConflict:
        status, text = 409, _("该申报已在其他窗口保存，请刷新页面后再修改。")
    except (ValidationError, PermissionDenied) as exc:
        status, text = 422, " ".join(getattr(exc, "messages", [str(exc)]))
    return render(request, "pilots/_save_status.html", {"app": app, "text": text, "ok": status == 200}, status=status)


@login_required
@require_POST
def attachment_upload(request, pk: int):
    app = _visible_application(request, pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("请选择要上传的文件。"))
    else:
        _run(request, services.attachment_add, application=app, user=request.user, uploaded_file=upload,
             success=_("附件已上传。"))
    return redirect("pilots:application", pk=app.pk)


@login_required
@require_POST
def application_withdraw(request, pk: int):
    app = _visible_application(request, pk)
    _run(request, services.application_withdraw, application=app, user=request.user,
         reason=request.POST.get("reason", ""), success=_("申报已撤回。"))
    return redirect("pilots:application", pk=app.pk)


# --- recommending unit ---------------------------------------------------------------------------


@login_required
def recommend_list(request, call_id: int):
    unit = recommending_unit_of(request.user)
    if unit is None:
        raise Http404
    call = get_object_or_404(Call.objects.exclude(status=CallStatus.DRAFT), pk=call_id)
    if request.method == "POST":
        app = get_object_or_404(selectors.channel_applications(user=request.user, call=call), pk=request.POST.get("application"))
        if request.POST.get("action") == "return":
            _run(request, services.application_return, application=app, user=request.user,
                 reason=request.POST.get("reason", ""), success=_("已退回。"))
        else:
            _run(request, services.application_recommend, application=app, user=request.user, success=_("已推荐。"))
        return redirect("pilots:recommend", call_id=call.pk)
    apps = list(selectors.channel_applications(user=request.user, call=call))
    used = selectors.unit_recommended_count(call=call, unit_code=unit.code)
    return render(request, "pilots/recommend.html", {
        "call": call, "unit": unit, "apps": apps, "used": used, "open": call.in_window("recommendation")})


# --- staff ---------------------------------------------------------------------------------------


def _require_staff(request):
    if not pilot_rules.is_pilot_staff(request.user):
        raise Http404


@login_required
def call_manage(request, call_id: int):
    """Staff page of one call: eligibility, assignment, aggregation, proposed list, objections, decision."""
    _require_staff(request)
    call = get_object_or_404(Call, pk=call_id)
    slot_form = None
    if request.method == "POST":
        if request.POST.get("action") == "defence_slot":
            slot_form = DefenceSlotForm(request.POST, call=call)
            if slot_form.is_valid() and _run(request, services.defence_slot_create, call=call, user=request.user,
                                              success=_("答辩已安排。"), **slot_form.cleaned_data):
                return redirect("pilots:manage", call_id=call.pk)
        else:
            _manage_post(request, call)
            return redirect("pilots:manage", call_id=call.pk)
    apps = list(Application.objects.filter(call=call).exclude(status=ApplicationStatus.DRAFT)
                .select_related("enterprise", "recommending_unit", "result").prefetch_related("assignments__expert"))
    return render(request, "pilots/manage.html", {
        "call": call, "apps": apps, "experts": Expert.objects.filter(is_active=True),
        "ranking": selectors.ranking(call), "balance": selectors.industry_balance(call),
        "objections": Objection.objects.filter(call=call).select_related("application__enterprise"),
        "handle_form": ObjectionHandleForm(),
        "problems": request.session.pop("pilot_assignment_problems", None),
        "slots": call.defence_slots.prefetch_related("panel", "applications__enterprise"),
        "slot_form": slot_form or DefenceSlotForm(call=call),
    })


def _manage_post(request, call: Call) -> None:
    user, post = request.user, request.POST
    action = post.get("action")
    if action == "publish":
        _run(request, services.call_publish, call=call, user=user, success=_("批次已发布。"))
    elif action in ("eligible", "ineligible"):
        app = get_object_or_404(Application, call=call, pk=post.get("application"))
        _run(request, services.application_check_eligibility, application=app, user=user,
             passed=action == "eligible", reason=post.get("reason", ""), success=_("资格审查结果已记录。"))
    elif action == "auto_assign":
        result = _run(request, services.assignment_auto, call=call, user=user)
        if result is not None:
            if result.problems or result.message:
                names = dict(Application.objects.filter(pk__in=result.problems).values_list("pk", "enterprise__name"))
                request.session["pilot_assignment_problems"] = {
                    "message": result.message, "rows": [[names.get(pk, pk), why] for pk, why in result.problems.items()]}
                messages.error(request, _("无法完成自动分配，原因见下表。"))
            else:
                messages.success(request, _("已自动分配 %(n)s 条评审任务。") % {"n": result.created})
    elif action == "assign":
        app = get_object_or_404(Application, call=call, pk=post.get("application"))
        expert = get_object_or_404(Expert, pk=post.get("expert"))
        _run(request, services.assignment_add, application=app, expert=expert, user=user, success=_("已分配。"))
    elif action == "swap":
        asg = get_object_or_404(Assignment, application__call=call, pk=post.get("assignment"))
        expert = get_object_or_404(Expert, pk=post.get("expert"))
        _run(request, services.assignment_swap, assignment=asg, expert=expert, user=user, success=_("已调换。"))
    elif action == "defence":
        app = get_object_or_404(Application, call=call, pk=post.get("application"))
        score = _score_from(request, _("答辩得分必须是数字。"))
        if score is None:
            return
        _run(request, services.defence_record, application=app, user=user, score=score, note=post.get("note", ""),
             success=_("答辩结果已记录。"))
    elif action == "adjust":
        result = get_object_or_404(AggregateResult, application__call=call, application_id=post.get("application"))
        score = _score_from(request, _("调整后得分必须是数字。"))
        if score is None:
            return
        _run(request, services.result_adjust, result=result, user=user, score=score, reason=post.get("reason", ""),
             success=_("得分已调整，原因已记录。"))
    elif action == "aggregate":
        _run(request, services.results_aggregate, call=call, user=user, success=_("评审结果已汇总。"))
    elif action == "propose":
        ids = [int(x) for x in post.getlist("applications") if x.isdigit()]
        _run(request, services.call_propose, call=call, user=user, application_ids=ids, success=_("公示名单已确定。"))
    elif action == "handle_objection":
        objection = get_object_or_404(Objection, call=call, pk=post.get("objection"))
        _run(request, services.objection_handle, objection=objection, user=user, status=post.get("status", ""),
             handling=post.get("handling", ""), success=_("异议处理情况已记录。"))
    elif action == "decide":
        _run(request, services.call_decide, call=call, user=user, success=_("认定结果已公布，已通知各申报企业。"))
    else:
        raise Http404


# --- staff: a call's settings --------------------------------------------------------------------


def _criteria_initial(call: Call | None) -> list[dict]:
    if call is None:
        return []
    return [{"code": c.code, "name": c.name, "weight": c.weight} for c in call.criteria.order_by("order", "pk")]


@login_required
def call_edit(request, call_id: int | None = None):
    """Staff create a call (draft) or change one: settings, stage dates, quotas, rubric. The
    checks are the service's (services.call_create / call_update); a refusal keeps what was typed."""
    _require_staff(request)
    call = get_object_or_404(Call, pk=call_id) if call_id else None
    if request.method == "POST":
        form = CallForm(request.POST, instance=call)
        criteria = CriterionFormSet(request.POST, prefix="criteria")
        if form.is_valid() and criteria.is_valid():
            rows = [r for r in (f.criterion() for f in criteria.forms) if r is not None]
            fields = {k: v for k, v in form.cleaned_data.items() if k != "key_industries"}
            industries = form.cleaned_data["key_industries"]
            try:
                if call is None:
                    saved = services.call_create(user=request.user, criteria=rows, key_industries=industries, **fields)
                else:
                    saved = services.call_update(call=call, user=request.user, criteria=rows, key_industries=industries,
                                                 **fields)
            except (ValidationError, PermissionDenied) as exc:
                _fail(request, exc)
            else:
                messages.success(request, _("批次已保存。"))
                return redirect("pilots:manage", call_id=saved.pk)
    else:
        form = CallForm(instance=call)
        criteria = CriterionFormSet(prefix="criteria", initial=_criteria_initial(call))
    return render(request, "pilots/call_form.html", {"call": call, "form": form, "criteria": criteria})


# --- expert --------------------------------------------------------------------------------------


@login_required
def review_detail(request, assignment_id: int):
    """An expert's review of one assigned application; other scores only after submitting."""
    asg = get_object_or_404(pilot_rules.assignments_of(request.user).select_related("application__call", "application__enterprise"),
                            pk=assignment_id)
    app = asg.application
    criteria = list(app.call.criteria.all())
    review = getattr(asg, "review", None)
    posted = None
    if request.method == "POST":
        posted = {c.code: request.POST.get(f"score_{c.code}", "") for c in criteria}
        submit = request.POST.get("action") == "submit"
        if _run(request, services.review_save, assignment=asg, user=request.user, scores=posted,
                comment=request.POST.get("comment", ""), submit=submit,
                success=_("评审意见已提交。") if submit else _("评审草稿已保存。")) is not None:
            return redirect("pilots:review", assignment_id=asg.pk)
        review = Review.objects.filter(assignment=asg).first()  # refused: show what was typed, lose nothing
    values = posted if posted is not None else (review.scores if review else {})
    return render(request, "pilots/review.html", {
        "asg": asg, "app": app, "review": review,
        "rows": [(c, values.get(c.code)) for c in criteria],
        "comment": request.POST.get("comment", "") if posted is not None else (review.comment if review else ""),
        "scenarios": app.scenarios.all(), "attachments": app.attachments.all(),
        "others": selectors.reviews_visible(user=request.user, application=app).exclude(assignment=asg)
        if review and review.submitted_at else None,
        "open": app.call.in_window("review"),
    })


@login_required
def expert_conflicts(request):
    """The expert declares its own conflicts (relations with enterprises)."""
    expert = pilot_rules.expert_of(request.user)
    if expert is None:
        raise Http404
    if request.method == "POST":
        enterprise = Enterprise.objects.filter(uscc=request.POST.get("uscc", "").strip().upper()).first()
        if enterprise is None:
            messages.error(request, _("未找到该统一社会信用代码对应的企业。"))
        else:
            _run(request, services.conflict_declare, expert=expert, enterprise=enterprise, user=request.user,
                 reason=request.POST.get("reason", ""), success=_("回避关系已登记。"))
        return redirect("pilots:conflicts")
    return render(request, "pilots/conflicts.html", {"expert": expert, "conflicts": expert.conflicts.select_related("enterprise")})


# --- public --------------------------------------------------------------------------------------


def _notice_public(call: Call) -> bool:
    """The list is public from the first day of the notice on (and after the decision)."""
    return bool(call.announced_at) or timezone.localdate() >= call.notice_starts_on


def public_notice(request, call_id: int):
    """The proposed list during the notice (with the objection form), the final list after."""
    call = get_object_or_404(Call.objects.exclude(status=CallStatus.DRAFT), pk=call_id)
    if not _notice_public(call):
        raise Http404
    form = ObjectionForm(request.POST or None)
    if request.method == "POST":
        if not call.in_window("notice"):
            messages.error(request, _("公示期已于 %(end)s 结束，不再受理异议。") % {"end": call.notice_ends_on})
        elif form.is_valid():
            app = get_object_or_404(Application, call=call, pk=form.cleaned_data["application"])
            data = {k: form.cleaned_data.get(k) or "" for k in ("name", "organisation", "phone", "email", "text")}
            try:
                services.objection_file(application=app, client=_client(request), **data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errs in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errs)
                else:
                    form.add_error(None, exc.messages)
            else:
                messages.success(request, _("您的异议已收到，我们将依规核实处理，并通过您留下的联系方式答复。"))
                return redirect(reverse("pilots:notice", args=[call.pk]))
    return render(request, "pilots/notice.html", {
        "call": call, "apps": selectors.public_list(call), "form": form, "open": call.in_window("notice")})


def notice_list(request):
    calls = Call.objects.exclude(status=CallStatus.DRAFT).order_by("-year", "-notice_starts_on")
    rows = [c for c in calls if _notice_public(c)]
    return render(request, "pilots/notices.html", {"calls": rows})
