"""State changes of filings. Each public function is one action: atomic, takes the acting
user, and records a SubmissionEvent in the same transaction (who, when, why).

Concurrency: every change locks the submission row (select_for_update). Saving answers
carries the revision the editor loaded; a different revision means someone else saved in
between (another tab or device) and the save is refused with :class:`DraftConflict`, never
silently overwriting. Submitting an already-submitted filing is a no-op (double click).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.permissions import can_file, can_review, recorded_user
from apps.accounts.review_rules import can_accept, can_return
from apps.frameworks.models import Framework, FrameworkStatus, Indicator, IndicatorKind, IndustryModule
from apps.notifications.services import notify_submission_decided

from .answers import clean_answer, clean_note
from .evidence import max_evidence_files, max_evidence_total_bytes, sniff_evidence
from .models import (
    Answer,
    EventAction,
    Evidence,
    Period,
    ReturnReason,
    Submission,
    SubmissionEvent,
    SubmissionStatus,
)


class DraftConflict(Exception):
    """The draft was saved elsewhere since the editor loaded it."""

    def __init__(self, current_revision: int):
        super().__init__(current_revision)
        self.current_revision = current_revision


# --- what applies to whom -------------------------------------------------------------------


def modules_for(*, framework: Framework, enterprise) -> list[IndustryModule]:
    """Industry modules of ``framework`` that apply to ``enterprise`` (by industry class,
    its division, or one of its key-industry tags)."""
    industry_codes = {enterprise.industry_id, enterprise.division_code}
    keys = list(enterprise.key_industries.values_list("pk", flat=True))
    return list(
        framework.modules.filter(Q(industries__code__in=industry_codes) | Q(key_industries__in=keys)).distinct()
    )


def applicable_indicators(*, submission: Submission):
    """Indicators the enterprise must answer: the core ones and those of its modules."""
    modules = modules_for(framework=submission.framework, enterprise=submission.enterprise)
    return (
        submission.framework.indicators.filter(Q(module__isnull=True) | Q(module__in=modules))
        .select_related("dimension", "module")
        .prefetch_related("rubric_levels", "checklist_items")
        .order_by("dimension__order", "order", "code")
    )


# --- drafting ----------------------------------------------------------------------------------


def _record(submission, action, actor, note="", from_status="", to_status="") -> SubmissionEvent:
    return SubmissionEvent.objects.create(
        submission=submission, action=action, actor=recorded_user(actor), note=note,
        from_status=from_status, to_status=to_status or submission.status,
    )


def _require_enterprise_user(user, submission: Submission | None = None, enterprise=None) -> None:
    target = submission.enterprise_id if submission else enterprise.pk
    if not can_file(user, target):
        raise PermissionDenied(_("只有本企业的填报员可以编辑本企业的诊断填报。"))


def submission_start(*, enterprise, period: Period, user) -> Submission:
    """Open (or return the existing) submission of ``enterprise`` for ``period``."""
    return submission_open(enterprise=enterprise, period=period, user=user)[0]


@transaction.atomic
def submission_open(*, enterprise, period: Period, user) -> tuple[Submission, bool]:
    """Open the submission of ``enterprise`` for ``period``, or return the existing one;
    the flag says whether this call created it. Two simultaneous calls (a double click, two
    API clients) yield one submission: the loser of the race on the unique constraint gets
    the winner's submission and ``False``."""
    _require_enterprise_user(user, enterprise=enterprise)
    existing = Submission.objects.filter(enterprise=enterprise, period=period).first()
    if existing:
        return existing, False
    if not period.is_open():
        raise ValidationError(_("该期次不在填报时间内（%(start)s 至 %(end)s）。") % {
            "start": period.opens_on, "end": period.closes_on})
    if period.framework.status != FrameworkStatus.PUBLISHED:
        raise ValidationError(_("该期次的评估框架尚未发布，暂不能填报。"))
    try:
        with transaction.atomic():  # a savepoint: the race's loser keeps its transaction
            submission = Submission.objects.create(
                enterprise=enterprise, period=period, framework=period.framework, **enterprise_location(enterprise)
            )
    except IntegrityError:
        return Submission.objects.get(enterprise=enterprise, period=period), False
    _record(submission, EventAction.CREATED, user)
    return submission, True


def enterprise_location(enterprise) -> dict:
    """The denormalised codes a submission carries: where its enterprise is when it files,
    its industry (division and class), size class and revenue (index runs build a period's
    cells and decide its industry modules from these). Every path that submits a filing —
    the filing pages, the API, the paper import — records them through this function."""
    return {
        "province_code": enterprise.province_code, "prefecture_code": enterprise.prefecture_code,
        "county_code": enterprise.county_code, "division_code": enterprise.division_code,
        "industry_code": enterprise.industry_id or "",
        "size_class": enterprise.size_class, "revenue": enterprise.revenue,
    }


def _locked(submission: Submission) -> Submission:
    return Submission.objects.select_for_update().get(pk=submission.pk)


@transaction.atomic
def submission_save_answers(
    *, submission: Submission, user, answers: dict[str, object], revision: int, notes: dict[str, str] | None = None
) -> tuple[Submission, dict[str, str]]:
    """Save some answers of a draft (one step or one field).

    ``answers`` maps indicator codes to raw values (see answers.clean_answer); ``notes``
    maps codes to the 说明 of indicators whose framework asks for one (answers.clean_note).
    Valid answers are saved, invalid ones are returned as ``{code: message}`` and leave the
    stored answer — value and note — as it was. Raises DraftConflict if ``revision`` is not
    the stored revision.
    """
    notes = notes or {}
    _require_enterprise_user(user, submission)
    sub = _locked(submission)
    if not sub.is_editable_by_enterprise:
        raise ValidationError(_("该填报已提交，不能再修改。如需修改，请等待主管部门退回。"))
    if revision != sub.revision:
        raise DraftConflict(sub.revision)
    codes = list(dict.fromkeys([*answers, *notes]))
    indicators = {i.code: i for i in applicable_indicators(submission=sub).filter(code__in=codes)}
    errors: dict[str, str] = {}
    changes: dict[Indicator, dict] = {}
    for code in codes:
        indicator = indicators.get(code)
        if indicator is None:
            errors[code] = _("%(code)s：不是本次填报的指标。") % {"code": code}
            continue
        change: dict = {}
        problems = []
        if code in answers:
            try:
                answer = clean_answer(
                    indicator, answers[code], item_codes=[i.code for i in indicator.checklist_items.all()]
                )
                change.update(value=answer.value, not_measured=answer.not_measured)
            except ValidationError as exc:
                problems.append(exc.messages[0])
        if code in notes:
            try:
                change["note"] = clean_note(indicator, notes[code])
            except ValidationError as exc:
                problems.append(exc.messages[0])
        if problems:  # value and note of one indicator are saved together or not at all
            errors[code] = " ".join(problems)
        else:
            changes[indicator] = change
    for indicator, change in changes.items():
        Answer.objects.update_or_create(submission=sub, indicator=indicator, defaults={**change, "updated_by": user})
    if changes:
        sub.revision += 1
        sub.save(update_fields=["revision", "updated_at"])
    return sub, errors


def missing_answers(*, submission: Submission) -> list[Indicator]:
    """Applicable indicators without an answer (a KPI marked 未统计 counts as answered)."""
    answered = {a.indicator_id for a in submission.answers.all() if a.value is not None or a.not_measured}
    return [i for i in applicable_indicators(submission=submission) if i.pk not in answered]


def continue_url(*, submission: Submission) -> str:
    """Where "继续填报" leads: the step and anchor of the first unanswered item, or the check
    page once everything is answered."""
    from django.urls import reverse

    missing = missing_answers(submission=submission)
    if not missing:
        return reverse("filings:check", args=[submission.pk])
    first = missing[0]
    return reverse("filings:step", args=[submission.pk, first.dimension.code]) + f"#ind-{first.code}"


def evidence_problems(*, submission: Submission) -> list[str]:
    """Key yes/no items answered "yes" without evidence: these block submitting."""
    with_evidence = set(submission.evidence.exclude(indicator=None).values_list("indicator_id", flat=True))
    problems = []
    for answer in submission.answers.select_related("indicator").filter(indicator__kind=IndicatorKind.YESNO):
        if answer.value is True and answer.indicator.evidence_required and answer.indicator_id not in with_evidence:
            problems.append(_("%(code)s：选择“是”须上传证明材料。") % {"code": answer.indicator.code})
    return problems


@transaction.atomic
def evidence_add(*, submission: Submission, user, uploaded_file, indicator: Indicator | None) -> Evidence:
    """Store an uploaded evidence file after checking its real type from its bytes."""
    _require_enterprise_user(user, submission)
    sub = _locked(submission)
    if not sub.is_editable_by_enterprise:
        raise ValidationError(_("该填报已提交，不能再上传材料。"))
    content_type = sniff_evidence(uploaded_file)  # raises ValidationError
    held = sub.evidence.aggregate(n=Count("pk"), total=Sum("size"))
    if held["n"] >= max_evidence_files():
        raise ValidationError(_("每份填报最多上传 %(n)d 个证明材料，请先删除不需要的文件。") % {"n": max_evidence_files()})
    if (held["total"] or 0) + uploaded_file.size > max_evidence_total_bytes():
        raise ValidationError(_("本填报的证明材料总大小不能超过 %(limit)s（已用 %(used)s），请先删除不需要的文件或压缩后再上传。") % {
            "limit": filesizeformat(max_evidence_total_bytes()), "used": filesizeformat(held["total"] or 0)})
    digest = hashlib.sha256()
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    evidence = Evidence(
        submission=sub, indicator=indicator, original_name=uploaded_file.name[:255], content_type=content_type,
        size=uploaded_file.size, sha256=digest.hexdigest(), uploaded_by=user,
    )
    evidence.file.save(uploaded_file.name, uploaded_file, save=False)
    evidence.save()
    return evidence


@transaction.atomic
def evidence_remove(*, evidence: Evidence, user) -> None:
    _require_enterprise_user(user, evidence.submission)
    if not _locked(evidence.submission).is_editable_by_enterprise:
        raise ValidationError(_("该填报已提交，不能再删除材料。"))
    stored = evidence.file
    evidence.delete()
    transaction.on_commit(lambda: stored.delete(save=False))


# --- submitting and review ---------------------------------------------------------------------


@dataclass
class SubmitResult:
    submission: Submission
    already_submitted: bool = False


@transaction.atomic
def submission_submit(*, submission: Submission, user, pledge: bool) -> SubmitResult:
    """Submit a draft (or a returned filing) for review, with the truthfulness pledge.

    Refuses with every missing answer listed; a second submit of the same filing (double
    click, two tabs) returns ``already_submitted=True`` and changes nothing.
    """
    _require_enterprise_user(user, submission)
    sub = _locked(submission)
    if sub.status in (SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED):
        return SubmitResult(sub, already_submitted=True)
    if not pledge:
        raise ValidationError(_("提交前须确认真实性承诺。"))
    if not sub.period.is_open() and sub.status == SubmissionStatus.DRAFT:
        raise ValidationError(_("该期次已截止填报。"))
    problems = [_("%(code)s 尚未填写") % {"code": i.code} for i in missing_answers(submission=sub)]
    problems += evidence_problems(submission=sub)
    if problems:
        raise ValidationError(problems)
    from .packing import pack_answers  # local: packing imports the scoring engine

    previous = sub.status
    now = timezone.now()
    sub.status = SubmissionStatus.SUBMITTED
    sub.pledged_at, sub.pledged_by, sub.submitted_at = now, user, now
    sub.passed_on_at = sub.passed_on_by = None  # a resubmitted filing starts its review chain again
    sub.answer_vector = pack_answers(submission=sub)
    sub.flags = submission_flags(submission=sub)
    sub.__dict__.update(enterprise_location(sub.enterprise))
    sub.save()
    _record(sub, EventAction.SUBMITTED, user, from_status=previous,
            note=_("重新提交") if previous == SubmissionStatus.RETURNED else "")
    return SubmitResult(sub)


def _require_reviewer(user, submission: Submission) -> None:
    if not can_review(user):
        raise PermissionDenied(_("只有主管部门可以审核填报。"))
    if not Submission.objects.visible_to(user).filter(pk=submission.pk).exists():
        raise PermissionDenied(_("该填报不在您的管辖范围内。"))


@transaction.atomic
def submission_return(*, submission: Submission, user, reasons: dict[str, str], note: str = "") -> SubmissionEvent:
    """Return a submitted filing for correction with a reason per indicator."""
    _require_reviewer(user, submission)
    sub = _locked(submission)
    if sub.status != SubmissionStatus.SUBMITTED:
        raise ValidationError(_("只有待审核的填报可以退回。"))
    if not can_return(user, sub):
        raise PermissionDenied(_("按本期次的审核层级，此阶段的退回由其他层级的主管部门处理。"))
    reasons = {code: text.strip() for code, text in reasons.items() if text and text.strip()}
    if not reasons and not note.strip():
        raise ValidationError(_("退回时请至少填写一条退回原因。"))
    indicators = {i.code: i for i in sub.framework.indicators.filter(code__in=list(reasons))}
    unknown = sorted(set(reasons) - set(indicators))
    if unknown:
        raise ValidationError(_("未知的指标代码：%(codes)s") % {"codes": "、".join(unknown)})
    from .review import answers_snapshot  # local: review imports this module

    sub.status = SubmissionStatus.RETURNED
    sub.decided_at, sub.decided_by = timezone.now(), recorded_user(user)
    sub.passed_on_at = sub.passed_on_by = None
    sub.save(update_fields=["status", "decided_at", "decided_by", "passed_on_at", "passed_on_by", "updated_at"])
    event = _record(sub, EventAction.RETURNED, user, note=note.strip(), from_status=SubmissionStatus.SUBMITTED)
    event.snapshot = answers_snapshot(submission=sub)
    event.save(update_fields=["snapshot"])
    ReturnReason.objects.bulk_create(
        [ReturnReason(event=event, indicator=indicators[code], reason=text) for code, text in reasons.items()]
    )
    notify_submission_decided(submission=sub, accepted=False)
    return event


@transaction.atomic
def submission_accept(*, submission: Submission, user, note: str = "") -> Submission:
    """Accept a submitted filing; scoring is enqueued when the transaction commits."""
    _require_reviewer(user, submission)
    sub = _locked(submission)
    if sub.status == SubmissionStatus.ACCEPTED:
        return sub
    if sub.status != SubmissionStatus.SUBMITTED:
        raise ValidationError(_("只有待审核的填报可以审核通过。"))
    if not can_accept(user, sub):
        raise PermissionDenied(_("本期次实行两级审核：须县级主管部门初审转报后，由地市级主管部门审核通过。"))
    sub.status = SubmissionStatus.ACCEPTED
    sub.decided_at, sub.decided_by = timezone.now(), recorded_user(user)
    sub.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    _record(sub, EventAction.ACCEPTED, user, note=note.strip(), from_status=SubmissionStatus.SUBMITTED)
    notify_submission_decided(submission=sub, accepted=True)
    from .tasks import score_submission

    transaction.on_commit(lambda: score_submission.delay(sub.pk))
    return sub


def submission_bulk_accept(*, submission_ids: list[int], user) -> tuple[int, int]:
    """Accept the given submitted filings that carry no flag and that the review chain lets
    ``user`` accept at their stage; returns (accepted, skipped)."""
    accepted = skipped = 0
    candidates = (
        Submission.objects.visible_to(user)
        .filter(pk__in=submission_ids, status=SubmissionStatus.SUBMITTED)
        .select_related("period")
    )
    for sub in candidates:
        if sub.flags or not can_accept(user, sub):
            skipped += 1
            continue
        submission_accept(submission=sub, user=user, note=_("批量审核通过"))
        accepted += 1
    skipped += len(set(submission_ids)) - accepted - skipped
    return accepted, skipped


# --- automatic flags ---------------------------------------------------------------------------


def submission_flags(
    *,
    submission: Submission,
    peer_cache: dict | None = None,
    answers: list[tuple] | None = None,
    evidence_indicator_ids: set[int] | None = None,
) -> list[dict]:
    """Implausible answers a reviewer should look at (they do not block submitting):
    rubric answers at or above the indicator's evidence level without evidence, and KPI
    values far outside what accepted peers of the same industry report.

    ``peer_cache`` (a dict the caller keeps) lets a batch of filings of one period — a paper
    import — read each industry's accepted KPI values (and their median and spread) once
    instead of once per filing. A caller that holds the filing's answers and evidence in
    memory passes them as ``answers`` (``[(indicator, value)]``, the filing's answers as they
    are stored) and ``evidence_indicator_ids`` (ids of the indicators with evidence) instead
    of having them read again (two queries per filing)."""
    flags = []
    if evidence_indicator_ids is None:
        evidence_indicator_ids = set(submission.evidence.exclude(indicator=None).values_list("indicator_id", flat=True))
    if answers is None:
        answers = [(a.indicator, a.value) for a in submission.answers.select_related("indicator")]
    for ind, value in answers:
        if ind.kind == IndicatorKind.RUBRIC and value is not None:
            threshold = ind.evidence_from_level if ind.evidence_from_level is not None else 5
            if value >= threshold and ind.pk not in evidence_indicator_ids:
                flags.append(rubric_high_flag(ind, value))
    kpis = [(ind, value) for ind, value in answers if ind.kind == IndicatorKind.KPI and value is not None]
    if kpis:
        flags += _kpi_outlier_flags(submission, kpis, peer_cache)
    return flags


def _accepted_kpi_values(period_id: int, division_code: str, exclude_submission_id: int | None) -> dict[int, list[float]]:
    """{indicator id: values} of the KPI answers of accepted filings of a period and division."""
    peers = (
        Answer.objects.filter(
            submission__period_id=period_id, submission__division_code=division_code,
            submission__status=SubmissionStatus.ACCEPTED, indicator__kind=IndicatorKind.KPI,
        )
        .exclude(submission_id=exclude_submission_id)
        .exclude(value=None)
        .values_list("indicator_id", "value")
    )
    by_indicator: dict[int, list[float]] = {}
    for indicator_id, value in peers:
        by_indicator.setdefault(indicator_id, []).append(float(value))
    return by_indicator


def _peer_spread(by_indicator: dict[int, list[float]]) -> dict[int, tuple[float, float]]:
    """{indicator id: (median, scaled MAD)} of the indicators with at least 10 peers and
    some spread; the others say nothing about outliers."""
    out = {}
    for indicator_id, raw in by_indicator.items():
        values = np.asarray(raw, dtype=float)
        if values.size < 10:
            continue
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median))) * 1.4826
        if mad:
            out[indicator_id] = (median, mad)
    return out


def _kpi_outlier_flags(submission: Submission, kpis: list[tuple], peer_cache: dict | None = None) -> list[dict]:
    """Robust z-score (median / MAD) against accepted filings of the same period and
    industry division; needs at least 10 peers to say anything. ``kpis``: [(indicator, value)]."""
    division = submission.enterprise.division_code
    if peer_cache is None:
        spread = _peer_spread(_accepted_kpi_values(submission.period_id, division, submission.pk))
    else:
        # Flags are raised on submit, before the filing can be accepted, so the cached
        # accepted values never contain the filing itself.
        key = (submission.period_id, division)
        if key not in peer_cache:
            peer_cache[key] = _peer_spread(_accepted_kpi_values(submission.period_id, division, None))
        spread = peer_cache[key]
    flags = []
    for ind, value in kpis:
        if ind.pk not in spread:
            continue
        median, mad = spread[ind.pk]
        z = (float(value) - median) / mad
        if abs(z) > KPI_OUTLIER_Z:
            flags.append(kpi_outlier_flag(ind, value, median))
    return flags


# The flags' wording, one place for the per-filing rules above and the paper import's
# column-wise ones (apps.filings.transfer).


def rubric_high_flag(indicator, level) -> dict:
    """The flag of a rubric answer at or above its evidence level without evidence."""
    return {"indicator": indicator.code, "kind": "rubric_high_without_evidence",
            "message": _("%(code)s 选择了%(level)d级，但未上传证明材料。") % {"code": indicator.code, "level": level}}


def kpi_outlier_flag(indicator, value, median: float) -> dict:
    """The flag of a KPI value more than 3.5 robust z-scores from its peers' median."""
    return {"indicator": indicator.code, "kind": "kpi_outlier",
            "message": _("%(code)s 数值 %(value)s 与同行业中位数 %(median)s 差异异常，请核实。") % {
                "code": indicator.code, "value": f"{float(value):g}", "median": f"{median:g}"}}


#: How far from the peers' median (in scaled MADs) a KPI value is flagged.
KPI_OUTLIER_Z = 3.5


def kpi_peer_spreads(period_id: int, division_codes) -> dict[str, dict[int, tuple[float, float]]]:
    """{division: {indicator id: (median, scaled MAD)}} of the accepted filings of a period,
    for many divisions in one query (what ``peer_cache`` of :func:`submission_flags` holds
    per division); divisions without enough peers map to {}."""
    divisions = sorted(set(division_codes))
    by_division: dict[str, dict[int, list[float]]] = {d: {} for d in divisions}
    peers = Answer.objects.filter(
        submission__period_id=period_id, submission__division_code__in=divisions,
        submission__status=SubmissionStatus.ACCEPTED, indicator__kind=IndicatorKind.KPI,
    ).exclude(value=None).values_list("submission__division_code", "indicator_id", "value")
    for division, indicator_id, value in peers:
        by_division[division].setdefault(indicator_id, []).append(float(value))
    return {division: _peer_spread(values) for division, values in by_division.items()}


