"""State changes of pilot selection. Keyword-only services named ``<entity>_<action>``; each
is atomic, checks who may act (:mod:`apps.accounts.pilot_rules`), refuses a transition that
is out of order or outside the call's date window with a message a clerk can act on, and
records an :class:`ApplicationEvent` in the same transaction. Mail to the applicant is queued
when the transaction commits and sent by a Celery worker (:mod:`apps.pilots.tasks`).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from functools import partial

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.accounts import pilot_rules
from apps.accounts.scoping import recommending_unit_for
from apps.filings.evidence import sniff_evidence

from . import assignment as solver
from . import tasks
from .models import (
    SCENARIO_MAX_CHARS,
    AggregateResult,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Assignment,
    AssignmentMethod,
    Attachment,
    Call,
    CallStatus,
    Case,
    CaseStatus,
    Conflict,
    ConflictSource,
    DefenceSlot,
    Element,
    EventAction,
    Expert,
    Objection,
    ObjectionStatus,
    Review,
    RubricCriterion,
    Scenario,
    ScenarioLevel,
)
from .scoring import reviewer_total, robust_score
from .selectors import conflict_reasons, diagnosis_for, eligibility_checks, unit_recommended_count

S = ApplicationStatus

STAGE_NAMES = {
    "application": gettext_noop("申报"), "recommendation": gettext_noop("推荐"),
    "eligibility": gettext_noop("资格审查"), "review": gettext_noop("专家评审"),
    "defence": gettext_noop("答辩"), "notice": gettext_noop("公示"), "decision": gettext_noop("认定"),
}


class DraftConflict(Exception):
    """The application was saved elsewhere since the editor loaded it."""

    def __init__(self, current_revision: int):
        super().__init__(current_revision)
        self.current_revision = current_revision


# --- helpers ------------------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionDenied(message)


def _require_staff(user) -> None:
    _require(pilot_rules.is_pilot_staff(user), _("只有部委工作人员可以进行此操作。"))


def _require_window(call: Call, *stages: str, today: datetime.date | None = None) -> None:
    if call.status == CallStatus.DRAFT:
        raise ValidationError(_("该批次尚未发布。"))
    if any(call.in_window(s, today) for s in stages):
        return
    start, end = call.window(stages[0])
    raise ValidationError(
        _("现在不在“%(stage)s”阶段（%(start)s 至 %(end)s），不能进行此操作。") % {
            "stage": _(STAGE_NAMES[stages[0]]), "start": start,
            "end": end if end != datetime.date.max else _("认定完成")}
    )


def _require_status(application: Application, *statuses: str) -> None:
    if application.status not in statuses:
        raise ValidationError(
            _("该申报当前状态为“%(status)s”，不能进行此操作。") % {"status": application.get_status_display()}
        )


def _locked(application: Application) -> Application:
    return Application.objects.select_for_update(of=("self",)).select_related("call", "enterprise").get(pk=application.pk)


def _transition(app: Application, *, to: str, action: str, user, note: str = "", notify: bool = True) -> ApplicationEvent:
    previous = app.status
    app.status = to
    app.save()
    event = ApplicationEvent.objects.create(
        application=app, action=action, from_status=previous, to_status=to, actor=user, note=note
    )
    if notify:
        # A partial (not a lambda) so that tests can read which notification a commit queues.
        transaction.on_commit(partial(tasks.notify_applicant.delay, app.pk, event.pk))
    return event


def application_notify(*, application_id: int, event_id: int) -> int:
    """Mail the applicant about one outcome (Django's mail framework; console backend locally,
    SMTP from EMAIL_URL in production). Runs in the worker (``tasks.notify_applicant``).
    Returns the number of recipients (0 when the enterprise has no address, or when this
    event's mail was sent already: a task delivered twice sends once — the event row is locked
    while mailing and stamped ``notified_at``; only a crash between the mail server's
    acceptance and the commit can still repeat a mail)."""
    with transaction.atomic():
        event = ApplicationEvent.objects.select_for_update().get(pk=event_id)
        if event.notified_at is not None:
            return 0
        sent = _mail_applicant(application_id, event)
        event.notified_at = timezone.now()
        event.save(update_fields=["notified_at"])
    return sent


def _mail_applicant(application_id: int, event: ApplicationEvent) -> int:
    app = Application.objects.select_related("enterprise", "call").get(pk=application_id)
    recipients = {app.enterprise.contact_email} | set(
        app.enterprise.users.filter(is_active=True).exclude(email="").values_list("email", flat=True)
    )
    recipients.discard("")
    if not recipients:
        return 0
    subject = _("【%(call)s】申报状态：%(status)s") % {"call": app.call.title, "status": app.get_status_display()}
    body = _("%(enterprise)s：\n\n您在“%(call)s”中的申报状态已变更为“%(status)s”。%(note)s\n\n请登录平台查看详情。") % {
        "enterprise": app.enterprise.name, "call": app.call.title, "status": app.get_status_display(),
        "note": (_("说明：%(note)s") % {"note": event.note}) if event.note else "",
    }
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, sorted(recipients))
    return len(recipients)


def count_chars(text: str) -> int:
    """Characters as the form counts them: line breaks normalised to one character."""
    return len(text.replace("\r\n", "\n").replace("\r", "\n"))


# --- calls -------------------------------------------------------------------------------------


CALL_FIELDS = (
    "title", "year", "description", "scenario_levels", "applications_open_on", "applications_close_on",
    "recommendation_closes_on", "eligibility_closes_on", "review_closes_on", "defence_required", "defence_closes_on",
    "notice_starts_on", "notice_ends_on", "decision_on", "quota_per_unit", "industry_quotas", "rubric_scale",
    "reviewers_per_application", "aggregation", "disagreement_threshold", "min_diagnosis_level", "region_conflict",
)


def _set_criteria(call: Call, criteria: list[dict]) -> None:
    call.criteria.all().delete()
    RubricCriterion.objects.bulk_create(
        [RubricCriterion(call=call, code=c["code"], name=c["name"], weight=float(c["weight"]), order=i)
         for i, c in enumerate(criteria)]
    )


@transaction.atomic
def call_create(*, user, criteria: list[dict], key_industries=(), **fields) -> Call:
    """Create a call (draft) with its rubric ``criteria`` [{code, name, weight}]."""
    _require_staff(user)
    call = Call(created_by=user, **fields)
    call_validate(call=call, criteria=criteria)
    call.save()
    call.key_industries.set(key_industries)
    _set_criteria(call, criteria)
    return call


@transaction.atomic
def call_update(*, call: Call, user, criteria: list[dict], key_industries=(), **fields) -> Call:
    """Change a call's settings (the same checks as :func:`call_create`). What the selection
    already rests on stays fixed: the rubric and its scale once a review is saved, the reviewers
    per application once experts are assigned, the aggregation once results are computed;
    nothing changes after the announcement."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.announced_at:
        raise ValidationError(_("该批次的结果已经公布，不能再修改。"))
    unknown = set(fields) - set(CALL_FIELDS)
    if unknown:
        raise ValidationError(_("不能修改的字段：%(f)s") % {"f": "、".join(sorted(unknown))})
    old_rubric = [(c.code, c.name, float(c.weight)) for c in call.criteria.order_by("order", "pk")]
    new_rubric = [(c["code"], c["name"], float(c["weight"])) for c in criteria]
    errors = []
    if Review.objects.filter(assignment__application__call=call).exists() and (
            old_rubric != new_rubric or fields.get("rubric_scale", call.rubric_scale) != call.rubric_scale):
        errors.append(_("专家已开始评审，评审要点和评分标度不能再修改。"))
    if Assignment.objects.filter(application__call=call).exists() and \
            int(fields.get("reviewers_per_application", call.reviewers_per_application)) != call.reviewers_per_application:
        errors.append(_("已分配评审专家，每份申报的评审专家人数不能再修改。"))
    if AggregateResult.objects.filter(application__call=call).exists() and (
            fields.get("aggregation", call.aggregation) != call.aggregation
            or float(fields.get("disagreement_threshold", call.disagreement_threshold)) != call.disagreement_threshold):
        errors.append(_("评审结果已汇总，汇总方法和分歧阈值不能再修改。"))
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(call, name, value)
    call_validate(call=call, criteria=criteria)
    call.save()
    call.key_industries.set(key_industries)
    if old_rubric != new_rubric:
        _set_criteria(call, criteria)
    return call


def call_validate(*, call: Call, criteria: list[dict]) -> None:
    """Dates in stage order, known scenario levels, a rubric with positive weights."""
    errors = _settings_errors(call) + _rubric_errors(criteria)
    if errors:
        raise ValidationError(errors)


def call_settings_validate(*, call: Call) -> None:
    """The checks of :func:`call_validate` that do not concern the rubric (for the XLSX import,
    which carries no rubric; a call cannot be published without one)."""
    errors = _settings_errors(call)
    if errors:
        raise ValidationError(errors)


def _settings_errors(call: Call) -> list[str]:
    errors = []
    order = [
        ("applications_open_on", call.applications_open_on), ("applications_close_on", call.applications_close_on),
        ("recommendation_closes_on", call.recommendation_closes_on), ("eligibility_closes_on", call.eligibility_closes_on),
        ("review_closes_on", call.review_closes_on),
    ]
    if call.defence_required:
        if not call.defence_closes_on:
            errors.append(_("需要答辩时请填写答辩截止日期。"))
        else:
            order.append(("defence_closes_on", call.defence_closes_on))
    order += [("notice_starts_on", call.notice_starts_on), ("notice_ends_on", call.notice_ends_on),
              ("decision_on", call.decision_on)]
    for (a, da), (b, db) in zip(order, order[1:], strict=False):
        if da and db and db < da:
            errors.append(_("“%(b)s”不能早于“%(a)s”。") % {
                "a": Call._meta.get_field(a).verbose_name, "b": Call._meta.get_field(b).verbose_name})
    if call.notice_starts_on and call.notice_starts_on <= (call.defence_closes_on or call.review_closes_on):
        errors.append(_("公示须在评审（及答辩）结束之后开始。"))
    unknown = set(call.scenario_levels) - set(ScenarioLevel.values)
    if unknown or not call.scenario_levels:
        errors.append(_("请选择场景层级（产品全生命周期 / 全价值链 / 全产业链）。"))
    return errors


def _rubric_errors(criteria: list[dict]) -> list[str]:
    errors = []
    if not criteria:
        errors.append(_("请至少填写一项评审要点。"))
    if any(not re.fullmatch(r"[-a-zA-Z0-9_]+", str(c.get("code", ""))) or not str(c.get("name", "")).strip()
           for c in criteria):
        errors.append(_("每项评审要点须有代码（字母、数字、连字符）和名称。"))
    codes = [c.get("code") for c in criteria]
    if len(set(codes)) != len(codes):
        errors.append(_("评审要点代码不能重复。"))
    if any(float(c.get("weight", 0)) <= 0 for c in criteria):
        errors.append(_("评审要点的权重必须大于 0。"))
    return errors


@transaction.atomic
def call_publish(*, call: Call, user) -> Call:
    """Open a draft call for applications."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.status != CallStatus.DRAFT:
        raise ValidationError(_("该批次已经发布。"))
    criteria = [{"code": c.code, "name": c.name, "weight": c.weight} for c in call.criteria.all()]
    call_validate(call=call, criteria=criteria)
    call.status = CallStatus.OPEN
    call.save(update_fields=["status"])
    return call


# --- application ---------------------------------------------------------------------------------


@transaction.atomic
def application_start(*, call: Call, user) -> Application:
    """Open (or return the existing) application of the user's enterprise to ``call``."""
    _require(pilot_rules.is_enterprise_applicant(user), _("只有企业填报员可以申报。"))
    existing = Application.objects.filter(call=call, enterprise_id=user.enterprise_id).first()
    if existing:
        return existing
    _require_window(call, "application")
    enterprise = user.enterprise
    app = Application.objects.create(
        call=call, enterprise=enterprise, recommending_unit=recommending_unit_for(enterprise), created_by=user,
        key_industry=enterprise.key_industries.filter(pk__in=call.key_industries.all()).first(),
    )
    ApplicationEvent.objects.create(application=app, action=EventAction.CREATED, to_status=app.status, actor=user)
    return app


def _clean_scenarios(scenarios: list[dict], call: Call) -> list[dict]:
    errors = []
    cleaned = []
    for i, s in enumerate(scenarios, start=1):
        title = (s.get("title") or "").strip()
        text = (s.get("text") or "").replace("\r\n", "\n").replace("\r", "\n")
        level = s.get("level") or ""
        elements = [e for e in (s.get("elements") or []) if e]
        if not title and not text.strip():
            continue
        where = _("场景 %(n)s：") % {"n": i}
        if not title:
            errors.append(where + _("请填写场景名称。"))
        if level not in call.scenario_levels:
            errors.append(where + _("请选择本批次范围内的场景层级。"))
        if set(elements) - set(Element.values):
            errors.append(where + _("人机料法环测要素无效。"))
        if count_chars(text) > SCENARIO_MAX_CHARS:
            errors.append(where + _("场景描述共 %(n)s 字，超过 %(max)s 字的上限，请删减 %(over)s 字。") % {
                "n": count_chars(text), "max": SCENARIO_MAX_CHARS, "over": count_chars(text) - SCENARIO_MAX_CHARS})
        cleaned.append({"title": title[:200], "level": level, "elements": elements, "text": text})
    if errors:
        raise ValidationError(errors)
    return cleaned


EDITABLE_FIELDS = {"employer_group", "key_industry_id", "declares_legal_person", "declares_good_credit", "declares_no_accident"}


@transaction.atomic
def application_save(*, application: Application, user, revision: int, fields: dict | None = None,
                     scenarios: list[dict] | None = None) -> Application:
    """Save a draft (autosave): some fields and/or the whole list of scenarios. Refuses a
    stale ``revision`` (DraftConflict) and any invalid scenario (nothing is saved then)."""
    _require(pilot_rules.can_edit_application(user, application), _("只有本企业的填报员可以编辑本企业的申报。"))
    app = _locked(application)
    _require_status(app, S.DRAFT, S.RETURNED)
    _require_window(app.call, "application")
    if revision != app.revision:
        raise DraftConflict(app.revision)
    fields = fields or {}
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(_("不能修改的字段：%(f)s") % {"f": "、".join(sorted(unknown))})
    if scenarios is not None:
        cleaned = _clean_scenarios(scenarios, app.call)
        app.scenarios.all().delete()
        Scenario.objects.bulk_create([Scenario(application=app, order=i, **s) for i, s in enumerate(cleaned)])
    for name, value in fields.items():
        setattr(app, name, value)
    if any(f.startswith("declares_") for f in fields):
        app.declared_at, app.declared_by = timezone.now(), user
    app.revision += 1
    app.save()
    return app


@transaction.atomic
def attachment_add(*, application: Application, user, uploaded_file) -> Attachment:
    """Attach a file; its type is checked from its bytes like evidence."""
    _require(pilot_rules.can_edit_application(user, application), _("只有本企业的填报员可以编辑本企业的申报。"))
    app = _locked(application)
    _require_status(app, S.DRAFT, S.RETURNED)
    content_type = sniff_evidence(uploaded_file)
    digest = hashlib.sha256()
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    att = Attachment(application=app, original_name=uploaded_file.name[:255], content_type=content_type,
                     size=uploaded_file.size, sha256=digest.hexdigest(), uploaded_by=user)
    att.file.save(uploaded_file.name, uploaded_file, save=False)
    att.save()
    return att


@transaction.atomic
def application_submit(*, application: Application, user) -> Application:
    """Submit before the deadline: declarations made, at least one scenario, an accepted
    diagnosis (its score and level are recorded on the application)."""
    _require(pilot_rules.can_edit_application(user, application), _("只有本企业的填报员可以提交本企业的申报。"))
    app = _locked(application)
    if app.status == S.SUBMITTED:
        return app
    _require_status(app, S.DRAFT, S.RETURNED)
    _require_window(app.call, "application")
    problems = []
    if not (app.declares_legal_person and app.declares_good_credit and app.declares_no_accident):
        problems.append(_("请确认全部三项声明（独立法人、近三年信用良好、无重大安全质量事故）。"))
    if not app.scenarios.exists():
        problems.append(_("请至少填写一个典型场景。"))
    diagnosis = diagnosis_for(app.enterprise)
    if diagnosis is None:
        problems.append(_("未找到本企业本期或上期已审核通过的诊断，请先完成诊断填报。"))
    if problems:
        raise ValidationError(problems)
    app.submission = diagnosis.submission
    app.diagnosis_score, app.diagnosis_level = diagnosis.composite, diagnosis.level
    app.submitted_at = timezone.now()
    _transition(app, to=S.SUBMITTED, action=EventAction.SUBMITTED, user=user)
    return app


@transaction.atomic
def application_withdraw(*, application: Application, user, reason: str = "") -> Application:
    """Withdraw before the application deadline."""
    _require(pilot_rules.can_edit_application(user, application), _("只有本企业的填报员可以撤回本企业的申报。"))
    app = _locked(application)
    _require_status(app, S.DRAFT, S.SUBMITTED, S.RETURNED)
    _require_window(app.call, "application")
    _transition(app, to=S.WITHDRAWN, action=EventAction.WITHDRAWN, user=user, note=reason.strip())
    return app


# --- recommendation ------------------------------------------------------------------------------


@transaction.atomic
def application_recommend(*, application: Application, user, note: str = "") -> Application:
    """Recommend a submitted application of the user's channel within the unit's quota.

    The call row is locked (``select_for_update``) before counting, so two clerks of one
    unit recommending at the same moment are serialised and never exceed the quota.
    """
    _require(pilot_rules.can_recommend(user, application), _("只有该企业所属推荐单位的主管部门可以推荐。"))
    call = Call.objects.select_for_update().get(pk=application.call_id)
    app = _locked(application)
    if app.status == S.RECOMMENDED:
        return app
    _require_status(app, S.SUBMITTED)
    _require_window(call, "recommendation")
    used = unit_recommended_count(call=call, unit_code=app.recommending_unit_id)
    if used >= call.quota_per_unit:
        raise ValidationError(_("本单位推荐名额（%(quota)s 个）已用完。") % {"quota": call.quota_per_unit})
    if app.key_industry_id and app.key_industry_id in (call.industry_quotas or {}):
        limit = int(call.industry_quotas[app.key_industry_id])
        used_ind = unit_recommended_count(call=call, unit_code=app.recommending_unit_id, key_industry_code=app.key_industry_id)
        if used_ind >= limit:
            raise ValidationError(_("本单位在“%(ind)s”的推荐名额（%(quota)s 个）已用完。") % {
                "ind": app.key_industry.name, "quota": limit})
    app.recommend_rank = used + 1
    _transition(app, to=S.RECOMMENDED, action=EventAction.RECOMMENDED, user=user, note=note.strip())
    return app


@transaction.atomic
def application_return(*, application: Application, user, reason: str) -> Application:
    """Return a submitted application to the enterprise with a reason."""
    _require(pilot_rules.can_recommend(user, application), _("只有该企业所属推荐单位的主管部门可以退回。"))
    app = _locked(application)
    _require_status(app, S.SUBMITTED)
    _require_window(app.call, "recommendation")
    if not reason.strip():
        raise ValidationError(_("退回时请填写退回原因。"))
    _transition(app, to=S.RETURNED, action=EventAction.RETURNED, user=user, note=reason.strip())
    return app


# --- eligibility ---------------------------------------------------------------------------------


@transaction.atomic
def application_check_eligibility(*, application: Application, user, passed: bool, reason: str = "") -> Application:
    """Staff pass or fail a recommended application; the automatic checks are recorded beside."""
    _require_staff(user)
    app = _locked(application)
    _require_status(app, S.RECOMMENDED)
    _require_window(app.call, "eligibility")
    if not passed and not reason.strip():
        raise ValidationError(_("资格审查不通过时请填写原因。"))
    app.eligibility_checks = eligibility_checks(app)
    app.eligibility_reason = reason.strip()
    _transition(app, to=S.ELIGIBLE if passed else S.INELIGIBLE,
                action=EventAction.ELIGIBLE if passed else EventAction.INELIGIBLE, user=user, note=reason.strip())
    return app


# --- conflicts and assignment --------------------------------------------------------------------


@transaction.atomic
def conflict_declare(*, expert: Expert, enterprise, user, reason: str) -> Conflict:
    """The expert (on its own page) or staff record a relation with an enterprise."""
    own = pilot_rules.expert_of(user)
    is_staff = pilot_rules.is_pilot_staff(user)
    _require(is_staff or (own is not None and own.pk == expert.pk), _("只能申报本人的回避关系。"))
    if not reason.strip():
        raise ValidationError(_("请填写回避原因。"))
    conflict, _created = Conflict.objects.update_or_create(
        expert=expert, enterprise=enterprise,
        defaults={"source": ConflictSource.STAFF if is_staff and own is None else ConflictSource.DECLARED,
                  "reason": reason.strip()[:300], "created_by": user},
    )
    conflict_recorded(conflict=conflict)
    return conflict


def conflict_recorded(*, conflict: Conflict) -> int:
    """What a new or changed conflict entails, wherever it was recorded (the expert's page,
    staff, the admin, the XLSX import): an assignment of the now-conflicted pair is removed
    unless its review has started. Returns how many were removed."""
    removed, _detail = Assignment.objects.filter(
        expert_id=conflict.expert_id, application__enterprise_id=conflict.enterprise_id, review__isnull=True).delete()
    return removed


def _eligible_applications(call: Call, *, for_assignment: bool = False):
    """The call's eligible applications in a fixed order. ``for_assignment`` loads only what
    the assignment matrices read (enterprise name and province, group, key industry, scenario
    levels): at 3,000 applications the full rows and scenario texts cost seconds."""
    qs = Application.objects.filter(call=call, status=S.ELIGIBLE).order_by("pk")
    if for_assignment:
        return list(
            qs.select_related("enterprise")
            .only("pk", "call_id", "enterprise_id", "key_industry_id", "employer_group", "status",
                  "enterprise__name", "enterprise__province_code")
            .prefetch_related(Prefetch("scenarios", queryset=Scenario.objects.only("pk", "application_id", "level")))
        )
    return list(qs.select_related("enterprise", "call").prefetch_related("scenarios"))


def affinity_of(expert: Expert, expert_keys: set[str], application: Application) -> int:
    """Field affinity: 2 for the application's key industry, 1 per scenario level shared."""
    score = 2 if application.key_industry_id and application.key_industry_id in expert_keys else 0
    levels = {s.level for s in application.scenarios.all()}
    return score + len(levels & set(expert.scenario_levels or []))


def assignment_matrices(call: Call, applications: list[Application], experts: list[Expert]):
    """(allowed, affinity) matrices applications × experts for the solver, vectorised: the
    same rules as :func:`selectors.conflict_reasons` (same employer, same group, same province
    when the call says so, a declared or found relation) and :func:`affinity_of`."""
    n, m = len(applications), len(experts)
    if n == 0 or m == 0:
        return np.ones((n, m), dtype=bool), np.zeros((n, m), dtype=np.int64)

    def column(values):
        return np.array(values, dtype=object)

    ent_name = column([a.enterprise.name.strip() for a in applications])[:, None]
    ent_group = column([a.employer_group.strip() for a in applications])[:, None]
    ent_prov = column([a.enterprise.province_code for a in applications])[:, None]
    exp_emp = column([e.employer.strip() for e in experts])[None, :]
    exp_group = column([e.employer_group.strip() for e in experts])[None, :]
    exp_prov = column([e.region.province_code if e.region_id else "" for e in experts])[None, :]
    conflicted = (ent_name == exp_emp) & (exp_emp != "")
    conflicted |= (ent_group == exp_group) & (exp_group != "")
    if call.region_conflict:
        conflicted |= (ent_prov == exp_prov) & (exp_prov != "")
    row = {a.enterprise_id: i for i, a in enumerate(applications)}
    col = {e.pk: j for j, e in enumerate(experts)}
    for expert_id, enterprise_id in Conflict.objects.filter(expert__in=experts, enterprise__in=list(row)).values_list(
            "expert_id", "enterprise_id"):
        conflicted[row[enterprise_id], col[expert_id]] = True

    keys = sorted({k.pk for e in experts for k in e.key_industries.all()})
    key_index = {k: i for i, k in enumerate(keys)}
    expert_keys = np.zeros((m, len(keys) + 1), dtype=np.int64)  # last column: "no key industry"
    for j, e in enumerate(experts):
        for k in e.key_industries.all():
            expert_keys[j, key_index[k.pk]] = 1
    app_key = np.array([key_index.get(a.key_industry_id, len(keys)) for a in applications])
    levels = list(ScenarioLevel.values)
    app_levels = np.array([[lv in {s.level for s in a.scenarios.all()} for lv in levels] for a in applications], dtype=np.int64)
    exp_levels = np.array([[lv in (e.scenario_levels or []) for lv in levels] for e in experts], dtype=np.int64)
    affinity = 2 * expert_keys[:, app_key].T + app_levels @ exp_levels.T
    return ~conflicted, np.where(conflicted, 0, affinity).astype(np.int64)


@dataclass
class AutoAssignResult:
    created: int
    problems: dict[int, str]  # application id -> why it cannot be covered
    message: str = ""


@transaction.atomic
def assignment_auto(*, call: Call, user) -> AutoAssignResult:
    """Assign the call's number of reviewers to every eligible application (replacing earlier
    automatic assignments without a review). Nothing is saved when it is infeasible."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    _require_window(call, "eligibility", "review")
    apps = _eligible_applications(call, for_assignment=True)
    experts = list(Expert.objects.filter(is_active=True).select_related("region").prefetch_related("key_industries")
                   .order_by("pk"))
    kept = Assignment.objects.filter(application__in=apps).exclude(method=AssignmentMethod.AUTO, review__isnull=True)
    if kept.exists():
        raise ValidationError(_("已有人工分配或已开始的评审，不能重新自动分配；请用人工分配或调换。"))
    Assignment.objects.filter(application__in=apps).delete()
    allowed, affinity = assignment_matrices(call, apps, experts)
    k = call.reviewers_per_application
    result = solver.solve_assignment(allowed, affinity, k)
    if not result.feasible:
        problems = {}
        for i, p in result.problems.items():
            if p["reason"] == "candidates":
                problems[apps[i].pk] = _("只有 %(n)s 名无回避关系的在库专家，需要 %(k)s 名。") % {"n": p["available"], "k": k}
            else:
                problems[apps[i].pk] = _("无回避关系的专家评审量已满，只能分配 %(n)s 名（需要 %(k)s 名）。") % {
                    "n": p["available"], "k": k}
        message = "" if problems else _("无法使各专家评审量相差不超过 1：部分专家可评审的申报太少。")
        return AutoAssignResult(created=0, problems=problems, message=message)
    now = timezone.now()
    Assignment.objects.bulk_create(
        [Assignment(application_id=apps[i].pk, expert_id=experts[j].pk, method=AssignmentMethod.AUTO, assigned_by=user,
                    assigned_at=now)
         for i, j in result.pairs],
        batch_size=2000,
    )
    return AutoAssignResult(created=len(result.pairs), problems={})


def _check_pair(expert: Expert, app: Application) -> None:
    if not expert.is_active:
        raise ValidationError(_("该专家已不在库。"))
    reasons = conflict_reasons(expert=expert, application=app)
    if reasons:
        raise ValidationError(_("%(expert)s 与该申报存在回避关系：%(why)s") % {"expert": expert.name, "why": "；".join(reasons)})


@transaction.atomic
def assignment_add(*, application: Application, expert: Expert, user) -> Assignment:
    """Assign an expert by hand, with the same conflict checks."""
    _require_staff(user)
    app = _locked(application)
    _require_status(app, S.ELIGIBLE)
    _require_window(app.call, "eligibility", "review")
    _check_pair(expert, app)
    if Assignment.objects.filter(application=app, expert=expert).exists():
        raise ValidationError(_("该专家已分配到此申报。"))
    return Assignment.objects.create(application=app, expert=expert, method=AssignmentMethod.MANUAL, assigned_by=user)


@transaction.atomic
def assignment_swap(*, assignment: Assignment, expert: Expert, user) -> Assignment:
    """Replace the expert of an assignment whose review has not started."""
    _require_staff(user)
    asg = Assignment.objects.select_for_update().select_related("application__call", "application__enterprise").get(pk=assignment.pk)
    _require_window(asg.application.call, "eligibility", "review")
    if Review.objects.filter(assignment=asg).exists():
        raise ValidationError(_("该专家已开始评审，不能调换。"))
    _check_pair(expert, asg.application)
    if Assignment.objects.filter(application=asg.application, expert=expert).exists():
        raise ValidationError(_("该专家已分配到此申报。"))
    asg.expert, asg.method, asg.assigned_by, asg.assigned_at = expert, AssignmentMethod.SWAP, user, timezone.now()
    asg.save()
    return asg


# --- review and aggregation ----------------------------------------------------------------------


@transaction.atomic
def review_save(*, assignment: Assignment, user, scores: dict[str, object], comment: str = "", submit: bool = False) -> Review:
    """An expert scores an assigned application against the rubric; ``submit`` locks it."""
    _require(pilot_rules.assignments_of(user).filter(pk=assignment.pk).exists(), _("该申报未分配给您评审。"))
    asg = Assignment.objects.select_for_update().select_related("application__call").get(pk=assignment.pk)
    call = asg.application.call
    _require_window(call, "review")
    review, _created = Review.objects.get_or_create(assignment=asg)
    if review.submitted_at:
        raise ValidationError(_("评审意见已提交，不能再修改。"))
    criteria = {c.code: c for c in call.criteria.all()}
    low, high = call.scale_bounds
    clean, errors = {}, []
    for code, raw in scores.items():
        if code not in criteria:
            errors.append(_("未知的评审要点：%(code)s") % {"code": code})
            continue
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            errors.append(_("“%(name)s”的得分必须是数字。") % {"name": criteria[code].name})
            continue
        if not low <= value <= high:
            errors.append(_("“%(name)s”的得分须在 %(low)g 到 %(high)g 之间。") % {"name": criteria[code].name, "low": low, "high": high})
            continue
        clean[code] = value
    if errors:
        raise ValidationError(errors)
    review.scores = {**review.scores, **clean}
    review.comment = comment.strip()
    if submit:
        missing = [c.name for code, c in criteria.items() if code not in review.scores]
        if missing:
            raise ValidationError(_("以下评审要点尚未打分：%(names)s") % {"names": "、".join(missing)})
        if not review.comment:
            raise ValidationError(_("提交前请填写评审意见。"))
        review.total = round(reviewer_total(review.scores, {c: criteria[c].weight for c in criteria}, (low, high)), 2)
        review.submitted_at = timezone.now()
    review.save()
    return review


@transaction.atomic
def results_aggregate(*, call: Call, user) -> list[AggregateResult]:
    """Compute every eligible application's robust score once all its reviews are in."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    _require_window(call, "review", "defence")
    apps = _eligible_applications(call)
    totals_of: dict[int, list[float]] = {a.pk: [] for a in apps}
    for app_id, total in Review.objects.filter(
            assignment__application__in=apps, submitted_at__isnull=False).values_list("assignment__application_id", "total"):
        totals_of[app_id].append(total)
    missing = [a for a in apps if len(totals_of[a.pk]) < call.reviewers_per_application]
    if missing:
        raise ValidationError(_("还有 %(n)s 份申报的评审未全部提交：%(names)s") % {
            "n": len(missing), "names": "、".join(a.enterprise.name for a in missing[:10])})
    results = []
    for a in apps:
        r = robust_score(totals_of[a.pk], method=call.aggregation, threshold=call.disagreement_threshold)
        result, _created = AggregateResult.objects.update_or_create(
            application=a, defaults={"method": call.aggregation, "reviews": r.n, "score": r.score, "spread": r.spread,
                                     "disagreement": r.disagreement})
        _transition(a, to=S.REVIEWED, action=EventAction.REVIEWED, user=user, notify=False,
                    note=_("汇总得分 %(s).2f，极差 %(d).2f") % {"s": r.score, "d": r.spread})
        results.append(result)
    return results


@transaction.atomic
def result_adjust(*, result: AggregateResult, user, score: float, reason: str) -> AggregateResult:
    """Staff adjust an application's score, with a recorded reason."""
    _require_staff(user)
    if not reason.strip():
        raise ValidationError(_("调整得分时请填写原因。"))
    res = AggregateResult.objects.select_for_update().select_related("application__call").get(pk=result.pk)
    app = _locked(res.application)
    _require_status(app, S.REVIEWED)
    _require_window(app.call, "review", "defence")
    if not 0 <= score <= 100:
        raise ValidationError(_("调整后得分须在 0 到 100 之间。"))
    res.adjusted_score, res.adjustment_reason, res.adjusted_by = score, reason.strip(), user
    res.save()
    ApplicationEvent.objects.create(application=app, action=EventAction.ADJUSTED, from_status=app.status,
                                    to_status=app.status, actor=user,
                                    note=_("%(old).2f → %(new).2f：%(why)s") % {"old": res.score, "new": score, "why": reason.strip()})
    return res


# --- defence -------------------------------------------------------------------------------------


@transaction.atomic
def defence_slot_create(*, call: Call, user, starts_at, place: str, panel=(), applications=()) -> DefenceSlot:
    """Schedule a defence (答辩) session of reviewed applications of ``call`` before the defence
    window closes; the panel's experts pass the same conflict checks as reviewers."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if not call.defence_required:
        raise ValidationError(_("本批次不安排答辩。"))
    errors = []
    if not place.strip():
        errors.append(_("请填写答辩地点。"))
    start, end = call.window("defence")
    if starts_at is None or not start <= timezone.localdate(starts_at) <= end:
        errors.append(_("答辩时间须在答辩阶段内（%(start)s 至 %(end)s）。") % {"start": start, "end": end})
    apps = list(Application.objects.filter(pk__in=[a.pk for a in applications]).select_related("call", "enterprise"))
    if not apps:
        errors.append(_("请选择参加答辩的企业。"))
    for app in apps:
        if app.call_id != call.pk or app.status != S.REVIEWED:
            errors.append(_("%(name)s 不是本批次已完成评审的申报，不能安排答辩。") % {"name": app.enterprise.name})
    experts = list(panel)
    if not experts:
        errors.append(_("请选择答辩专家。"))
    if errors:
        raise ValidationError(errors)
    for expert in experts:
        for app in apps:
            _check_pair(expert, app)
    slot = DefenceSlot.objects.create(call=call, starts_at=starts_at, place=place.strip())
    slot.panel.set(experts)
    slot.applications.set(apps)
    return slot


@transaction.atomic
def defence_record(*, application: Application, user, score: float, note: str = "") -> Application:
    """Record an application's defence result inside the defence window."""
    _require_staff(user)
    app = _locked(application)
    if not app.call.defence_required:
        raise ValidationError(_("本批次不安排答辩。"))
    _require_status(app, S.REVIEWED)
    _require_window(app.call, "defence")
    if not 0 <= score <= 100:  # also refuses NaN
        raise ValidationError(_("答辩得分须在 0 到 100 之间。"))
    app.defence_score, app.defence_note = score, note.strip()
    app.save()
    ApplicationEvent.objects.create(application=app, action=EventAction.DEFENDED, from_status=app.status,
                                    to_status=app.status, actor=user, note=note.strip())
    return app


# --- notice, objections, decision ----------------------------------------------------------------


@transaction.atomic
def call_propose(*, call: Call, user, application_ids: list[int]) -> int:
    """Put reviewed applications on the proposed list (公示名单) before or during the notice."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    today = timezone.localdate()
    if call.status == CallStatus.DRAFT or today <= (call.defence_closes_on or call.review_closes_on) or today > call.notice_ends_on:
        raise ValidationError(_("公示名单须在评审（及答辩）结束后、公示期结束前确定。"))
    apps = list(Application.objects.select_for_update().filter(call=call, pk__in=application_ids))
    if len(apps) != len(set(application_ids)):
        raise ValidationError(_("名单中有不属于本批次的申报。"))
    for app in apps:
        _require_status(app, S.REVIEWED)
        _transition(app, to=S.PROPOSED, action=EventAction.PROPOSED, user=user)
    return len(apps)


OBJECTION_RATE = (5, 3600)  # at most 5 objections per client address per hour


@transaction.atomic
def objection_file(*, application: Application, name: str, phone: str, text: str, client: str,
                   organisation: str = "", email: str = "") -> Objection:
    """Anyone files an objection to a proposed application, inside the notice period only,
    with contact details; rate-limited per client address. Never shown publicly."""
    application = Application.objects.select_related("call").get(pk=application.pk)
    call = application.call
    today = timezone.localdate()
    if application.status != S.PROPOSED:
        raise ValidationError(_("该企业不在公示名单中。"))
    if today < call.notice_starts_on:
        raise ValidationError(_("公示尚未开始，暂不受理异议。"))
    if today > call.notice_ends_on:
        raise ValidationError(_("公示期已于 %(end)s 结束，不再受理异议。") % {"end": call.notice_ends_on})
    errors = {}
    if not name.strip():
        errors["name"] = _("请填写姓名（不受理匿名异议）。")
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        errors["phone"] = _("请填写有效的联系电话。")
    if len(text.strip()) < 10:
        errors["text"] = _("请具体说明异议内容（至少 10 个字）。")
    if errors:
        raise ValidationError(errors)
    key = "pilots:objection:" + hashlib.sha256(client.encode()).hexdigest()
    limit, seconds = OBJECTION_RATE
    cache.add(key, 0, seconds)
    if cache.incr(key) > limit:
        raise ValidationError(_("提交过于频繁，请一小时后再试。"))
    return Objection.objects.create(
        call=call, application=application, name=name.strip()[:50], phone=phone.strip()[:30],
        organisation=organisation.strip()[:200], email=email.strip(), text=text.strip(),
    )


@transaction.atomic
def objection_handle(*, objection: Objection, user, status: str, handling: str) -> Objection:
    _require_staff(user)
    if status not in (ObjectionStatus.UPHELD, ObjectionStatus.DISMISSED):
        raise ValidationError(_("请选择处理结论。"))
    if not handling.strip():
        raise ValidationError(_("请填写处理情况。"))
    objection.status, objection.handling = status, handling.strip()
    objection.handled_by, objection.handled_at = user, timezone.now()
    objection.save()
    return objection


@transaction.atomic
def call_decide(*, call: Call, user) -> Call:
    """Announce the decision after the notice: every proposed application without an upheld
    objection is selected, the rest of the reviewed ones are not; every applicant is told."""
    _require_staff(user)
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.announced_at:
        raise ValidationError(_("该批次的结果已经公布。"))
    _require_window(call, "decision")
    if Objection.objects.filter(call=call, status=ObjectionStatus.RECEIVED).exists():
        raise ValidationError(_("还有未处理的异议，请先处理。"))
    upheld = set(Objection.objects.filter(call=call, status=ObjectionStatus.UPHELD).values_list("application_id", flat=True))
    for app in Application.objects.select_for_update().filter(call=call, status__in=[S.PROPOSED, S.REVIEWED, S.ELIGIBLE]):
        selected = app.status == S.PROPOSED and app.pk not in upheld
        _transition(app, to=S.SELECTED if selected else S.NOT_SELECTED,
                    action=EventAction.SELECTED if selected else EventAction.NOT_SELECTED, user=user,
                    note="" if selected or app.pk not in upheld else _("公示期间异议成立"))
    call.announced_at, call.status = timezone.now(), CallStatus.ANNOUNCED
    call.save(update_fields=["announced_at", "status"])
    return call


# --- showcase cases ------------------------------------------------------------------------------


@transaction.atomic
def case_from_application(*, application: Application, user, consent: bool, consent_note: str,
                          anonymised: bool = False) -> Case:
    """One click: a draft case carrying over a selected application's first scenario, with the
    enterprise's consent recorded (refused without it)."""
    _require_staff(user)
    app = _locked(application)
    _require_status(app, S.SELECTED, S.PROPOSED)
    if not consent or not consent_note.strip():
        raise ValidationError(_("请先取得企业同意，并记录同意方式（如书面同意函的编号）。"))
    scenario = app.scenarios.order_by("order", "pk").first()
    if scenario is None:
        raise ValidationError(_("该申报没有典型场景，无法生成案例。"))
    enterprise = app.enterprise
    label = _("某%(ind)s企业") % {"ind": app.key_industry.name if app.key_industry_id else _("制造业")}
    return Case.objects.create(
        title=scenario.title, enterprise=enterprise, enterprise_display=label if anonymised else enterprise.name,
        anonymised=anonymised, scenario_level=scenario.level, key_industry=app.key_industry,
        industry=enterprise.industry.parent if enterprise.industry.parent_id and enterprise.industry.level == "group" else enterprise.industry,
        elements=scenario.elements, region=enterprise.region, problem="", solution=scenario.text,
        source_application=app, consent_at=timezone.now(), consent_note=consent_note.strip(), created_by=user,
    )


CASE_FLOW = {
    "submit": (CaseStatus.DRAFT, CaseStatus.REVIEW),
    "publish": (CaseStatus.REVIEW, CaseStatus.PUBLISHED),
    "return": (CaseStatus.REVIEW, CaseStatus.DRAFT),
    "unpublish": (CaseStatus.PUBLISHED, CaseStatus.DRAFT),
}


@transaction.atomic
def case_transition(*, case: Case, user, action: str) -> Case:
    """draft → review → published (or back to draft); each change is kept in the case's history."""
    _require_staff(user)
    case = Case.objects.select_for_update().get(pk=case.pk)
    if action not in CASE_FLOW:
        raise ValidationError(_("未知的操作。"))
    source, target = CASE_FLOW[action]
    if case.status != source:
        raise ValidationError(_("案例当前为“%(status)s”，不能进行此操作。") % {"status": case.get_status_display()})
    if target == CaseStatus.PUBLISHED:
        missing = [str(Case._meta.get_field(f).verbose_name) for f in ("problem", "solution") if not getattr(case, f).strip()]
        if missing:
            raise ValidationError(_("发布前请填写：%(f)s") % {"f": "、".join(missing)})
        case.published_at = timezone.now()
    case.status = target
    case._change_reason = action
    case.save()
    return case
