"""Reads of pilot selection: diagnosis behind an application, conflicts, eligibility checks,
rankings, an expert's assigned reviews, the public notice. Access rules live in
:mod:`apps.accounts.pilot_rules`; these functions take querysets already scoped."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from apps.accounts import pilot_rules
from apps.accounts.scoping import recommending_unit_for
from apps.filings.models import Period, Submission, SubmissionStatus

from .models import Application, ApplicationStatus, Assignment, Call, Conflict, Expert, Review


@dataclass(frozen=True)
class Diagnosis:
    submission: Submission
    composite: float
    level: int
    source: str  # "run" (the published run's RunScore) or "submission" (its SubmissionScore)


def diagnosis_for(enterprise) -> Diagnosis | None:
    """The enterprise's accepted diagnosis in the current or previous period, with its score
    and level read from the published run (RunScore) or, before a run is published, from its
    own SubmissionScore. None when there is none."""
    from apps.indices.models import RunScore
    from apps.indices.services import published_run

    periods = list(Period.objects.order_by("-opens_on")[:2])
    subs = (
        Submission.objects.filter(enterprise=enterprise, period__in=periods, status=SubmissionStatus.ACCEPTED)
        .select_related("period", "score")
        .order_by("-period__opens_on")
    )
    for sub in subs:
        run = published_run(sub.period)
        if run is not None:
            # by (run, enterprise): the run's unique index finds the row at once
            row = RunScore.objects.filter(run=run, enterprise_id=sub.enterprise_id, submission_id=sub.pk).first()
            if row is not None:
                return Diagnosis(sub, float(row.composite), int(row.level), "run")
        score = getattr(sub, "score", None)
        if score is not None:
            return Diagnosis(sub, float(score.composite), int(score.level), "submission")
    return None


def conflict_reasons(*, expert: Expert, application: Application, declared: set[tuple[int, int]] | None = None) -> list[str]:
    """Why ``expert`` may not review ``application`` (empty when it may)."""
    enterprise = application.enterprise
    reasons = []
    if expert.employer and expert.employer.strip() == enterprise.name.strip():
        reasons.append(_("与申报企业为同一单位"))
    if expert.employer_group and expert.employer_group.strip() == application.employer_group.strip():
        reasons.append(_("与申报企业属同一集团"))
    if application.call.region_conflict and expert.region_id and expert.region.province_code == enterprise.province_code:
        reasons.append(_("与申报企业在同一省份（本批次要求回避）"))
    if declared is not None:
        if (expert.pk, enterprise.pk) in declared:
            reasons.append(_("已申报或认定的回避关系"))
    else:
        for c in Conflict.objects.filter(expert=expert, enterprise=enterprise):
            reasons.append(_("回避关系：%(reason)s") % {"reason": c.reason})
    return reasons


def eligibility_checks(application: Application) -> list[dict]:
    """The checks the system can make, each {code, label, passed, detail}."""
    call = application.call
    enterprise = application.enterprise
    checks = []
    diagnosis = diagnosis_for(enterprise)
    if diagnosis is None:
        checks.append({"code": "diagnosis", "label": _("本期或上期诊断已通过审核"), "passed": False,
                       "detail": _("未找到本期或上期已审核通过的诊断")})
    else:
        checks.append({"code": "diagnosis", "label": _("本期或上期诊断已通过审核"), "passed": True,
                       "detail": _("%(period)s：%(score).1f 分，%(level)s 级") % {
                           "period": diagnosis.submission.period.name, "score": diagnosis.composite,
                           "level": diagnosis.level}})
        checks.append({"code": "level", "label": _("诊断等级达到批次要求"),
                       "passed": diagnosis.level >= call.min_diagnosis_level,
                       "detail": _("要求 %(min)s 级及以上，实际 %(level)s 级") % {
                           "min": call.min_diagnosis_level, "level": diagnosis.level}})
    unit = recommending_unit_for(enterprise)
    checks.append({"code": "region", "label": _("所在地区属于推荐单位"), "passed": unit.code == application.recommending_unit_id,
                   "detail": str(unit)})
    call_keys = set(call.key_industries.values_list("pk", flat=True))
    if call_keys:
        own = set(enterprise.key_industries.values_list("pk", flat=True))
        if application.key_industry_id:
            own.add(application.key_industry_id)
        checks.append({"code": "industry", "label": _("所属重点行业在批次范围内"), "passed": bool(own & call_keys),
                       "detail": "、".join(sorted(own)) or _("未标注重点行业")})
    return checks


def unit_recommended_count(*, call: Call, unit_code: str, key_industry_code: str | None = None) -> int:
    """Applications a unit has recommended to ``call`` (still counting against its quota)."""
    qs = Application.objects.filter(call=call, recommending_unit_id=unit_code, status__in=RECOMMENDED_OR_LATER)
    if key_industry_code:
        qs = qs.filter(key_industry_id=key_industry_code)
    return qs.count()


RECOMMENDED_OR_LATER = [
    ApplicationStatus.RECOMMENDED, ApplicationStatus.ELIGIBLE, ApplicationStatus.INELIGIBLE,
    ApplicationStatus.REVIEWED, ApplicationStatus.PROPOSED, ApplicationStatus.SELECTED, ApplicationStatus.NOT_SELECTED,
]


def channel_applications(*, user, call: Call):
    """The applications of a recommending unit's channel for ``call``, diagnosis score first."""
    return (
        pilot_rules.applications_visible_to(user)
        .filter(call=call)
        .exclude(status__in=[ApplicationStatus.DRAFT, ApplicationStatus.WITHDRAWN])
        .select_related("enterprise", "key_industry")
        .order_by("recommend_rank", "-diagnosis_score", "pk")
    )


def assigned_reviews_for(expert_user):
    """The expert's assignments with their review (if started), newest call first — for the
    expert workbench. Empty for anyone who is not an active expert."""
    return (
        pilot_rules.assignments_of(expert_user)
        .select_related("application__call", "application__enterprise", "review")
        .order_by("-application__call__year", "application__call_id", "application_id")
    )


def reviews_visible(*, user, application: Application):
    """Submitted reviews of ``application`` that ``user`` may read: all of them for staff and
    for an assigned expert who has submitted its own; otherwise only the user's own."""
    qs = Review.objects.filter(assignment__application=application).select_related("assignment__expert")
    if pilot_rules.can_see_all_reviews(user, application):
        return qs.filter(submitted_at__isnull=False)
    return qs.filter(assignment__in=pilot_rules.assignments_of(user))


def ranking(call: Call) -> dict[str, list[Application]]:
    """Per recommending unit, its reviewed applications by final score (highest first)."""
    apps = (
        Application.objects.filter(call=call, result__isnull=False)
        .select_related("result", "enterprise", "recommending_unit", "key_industry")
    )
    by_unit: dict[str, list[Application]] = {}
    for a in sorted(apps, key=lambda a: (-a.result.final_score, a.pk)):
        by_unit.setdefault(a.recommending_unit_id, []).append(a)
    return by_unit


def public_list(call: Call):
    """The list the public sees: proposed during the notice, selected after the decision."""
    status = ApplicationStatus.SELECTED if call.announced_at else ApplicationStatus.PROPOSED
    return (
        Application.objects.filter(call=call, status=status)
        .select_related("enterprise", "recommending_unit", "key_industry")
        .prefetch_related(Prefetch("scenarios"))
        .order_by("recommending_unit_id", "enterprise__name")
    )


def expert_assignment_rows(call: Call):
    return Assignment.objects.filter(application__call=call).select_related("expert", "application__enterprise")


def industry_balance(call: Call) -> list[dict]:
    """Per key industry: applications reviewed, proposed or selected — for the balance check
    beside the ranking."""
    from django.db.models import Count, Q

    rows = (
        Application.objects.filter(call=call, result__isnull=False)
        .values("key_industry__name")
        .annotate(reviewed=Count("pk"),
                  chosen=Count("pk", filter=Q(status__in=[ApplicationStatus.PROPOSED, ApplicationStatus.SELECTED])))
        .order_by("key_industry__name")
    )
    return [{"industry": r["key_industry__name"] or "—", "reviewed": r["reviewed"], "chosen": r["chosen"]} for r in rows]


# --- the enterprise report's showcase cases -------------------------------------------------------

REPORT_WEAK_DIMENSIONS = 2  # how many of the weakest dimensions get their cases
REPORT_CASES_PER_LIST = 3


def cases_for_report(*, division_code: str, key_industry_codes, weakest: list) -> dict:
    """Published cases for an enterprise's diagnosis report: of its industry — the GB/T 4754
    division recorded on the filing, or one of the enterprise's key industries — and, for each
    of its weakest dimensions (``weakest``: Dimension rows, weakest first), the cases whose
    text mentions the dimension's name (the case library's full-text rule). The industry's
    newest other cases follow, so that a report never points at nothing while cases exist.

    Returns ``{"dimensions": [(dimension, [case, ...]), ...], "others": [case, ...]}``; a
    dimension without a matching case is left out.
    """
    from django.db.models import Q

    from .models import Case
    from .search import search_cases

    industry = Q(industry_id=division_code) if division_code else Q(pk__in=[])
    codes = list(key_industry_codes)
    if codes:
        industry |= Q(key_industry_id__in=codes)
    cases = Case.objects.published().filter(industry).select_related("key_industry")
    shown: set[int] = set()
    per_dimension = []
    for dimension in weakest[:REPORT_WEAK_DIMENSIONS]:
        found = list(search_cases(cases, dimension.name)[:REPORT_CASES_PER_LIST])
        if found:
            shown.update(c.pk for c in found)
            per_dimension.append((dimension, found))
    others = list(cases.exclude(pk__in=shown)[:REPORT_CASES_PER_LIST])
    return {"dimensions": per_dimension, "others": others}
