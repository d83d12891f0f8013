"""The review of a submitted filing beyond return/accept (those are in services.py):
passing a filing on in a two-level chain, the snapshot of answers taken at a return, what
changed since that return, and the items of the compact review page.

Who may do what at which stage is decided in :mod:`apps.accounts.review_rules`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.permissions import recorded_user
from apps.accounts.review_rules import can_pass_on

from .models import Answer, EventAction, ReturnReason, Submission, SubmissionEvent, SubmissionStatus
from .services import _locked, _record, _require_reviewer
from .stepform import IndicatorField

# --- the review chain ------------------------------------------------------------------------------


@transaction.atomic
def submission_pass_on(*, submission: Submission, user, note: str = "") -> Submission:
    """County review of a two-level chain: pass the filing on to the prefecture level,
    which then accepts or returns it. Recorded as a ``passed_on`` event."""
    _require_reviewer(user, submission)
    sub = _locked(submission)
    if sub.status != SubmissionStatus.SUBMITTED:
        raise ValidationError(_("只有待审核的填报可以初审转报。"))
    if not can_pass_on(user, sub):
        raise PermissionDenied(_("初审转报只在两级审核期次的县级初审阶段，由县级主管部门办理。"))
    sub.passed_on_at, sub.passed_on_by = timezone.now(), recorded_user(user)
    sub.save(update_fields=["passed_on_at", "passed_on_by", "updated_at"])
    _record(sub, EventAction.PASSED_ON, user, note=note.strip(), from_status=SubmissionStatus.SUBMITTED)
    return sub


# --- what changed since the return -------------------------------------------------------------------


def answers_snapshot(*, submission: Submission) -> dict:
    """The answers (value, 未统计, note) and evidence (content hashes and names) by indicator
    code, as JSON: kept on the return event so the next review can compare."""
    answers = {
        a.indicator.code: {"value": a.value, "not_measured": a.not_measured, "note": a.note}
        for a in submission.answers.select_related("indicator")
    }
    evidence: dict[str, list] = defaultdict(list)
    for e in submission.evidence.select_related("indicator").order_by("sha256", "pk"):
        evidence[e.indicator.code if e.indicator else ""].append([e.sha256, e.original_name])
    return {"answers": answers, "evidence": dict(evidence)}


@dataclass
class ReturnComparison:
    """A resubmitted filing against its latest return: the return event, the codes whose
    answer or evidence changed, and the reasons given at the return by code ('' = general)."""

    event: SubmissionEvent
    recorded: bool  # False: the return predates snapshots, nothing can be compared
    changed: set[str] = field(default_factory=set)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)

    def earlier_field(self, current: IndicatorField) -> IndicatorField:
        """The item as it was at the return, shaped like ``current`` for the same template."""
        then = self.snapshot.get("answers", {}).get(current.indicator.code)
        answer = Answer(value=then["value"], not_measured=then["not_measured"], note=then["note"]) if then else None
        return IndicatorField(current.indicator, answer)


def changes_since_return(*, submission: Submission) -> ReturnComparison | None:
    """Compare the filing with the answers it had when it was last returned; ``None`` when
    it has never been returned."""
    event = submission.events.filter(action=EventAction.RETURNED).order_by("-at", "-pk").first()
    if event is None:
        return None
    reasons: dict[str, list[str]] = defaultdict(list)
    for r in ReturnReason.objects.filter(event=event).select_related("indicator"):
        reasons[r.indicator.code if r.indicator else ""].append(r.reason)
    if event.note:
        reasons[""].insert(0, event.note)
    if not event.snapshot:
        return ReturnComparison(event, recorded=False, reasons=dict(reasons))
    then, now = event.snapshot, answers_snapshot(submission=submission)
    codes = set(then["answers"]) | set(now["answers"]) | set(then["evidence"]) | set(now["evidence"])
    changed = {
        code for code in codes
        if then["answers"].get(code) != now["answers"].get(code)
        or sorted(then["evidence"].get(code, [])) != sorted(now["evidence"].get(code, []))
    }
    changed.discard("")
    return ReturnComparison(event, recorded=True, changed=changed, reasons=dict(reasons), snapshot=then)


# --- the compact review page ------------------------------------------------------------------------


@dataclass
class ReviewDimension:
    """One collapsible group of the review page."""

    dimension: object
    items: list[IndicatorField]
    flagged: int = 0
    changed: int = 0

    @property
    def open_by_default(self) -> bool:
        """Groups with something to look at (a hint or a change) start open."""
        return bool(self.flagged or self.changed)


def review_groups(fields: list[IndicatorField], *, flags: list[dict], comparison: ReturnComparison | None,
                  only_changed: bool = False) -> list[ReviewDimension]:
    """The answers grouped by dimension for the review page, each item marked with its
    hints, whether it changed since the return and the reason given then."""
    hints: dict[str, list[str]] = defaultdict(list)
    for f in flags:
        hints[f.get("indicator", "")].append(f.get("message", ""))
    changed = comparison.changed if comparison and comparison.recorded else set()
    earlier = comparison.reasons if comparison else {}
    groups: dict[int, ReviewDimension] = {}
    for f in fields:
        code = f.indicator.code
        f.hints = hints.get(code, [])
        f.changed = code in changed
        f.earlier = comparison.earlier_field(f) if f.changed else None
        f.earlier_reasons = earlier.get(code, [])
        if only_changed and not f.changed:
            continue
        group = groups.setdefault(f.indicator.dimension_id, ReviewDimension(f.indicator.dimension, []))
        group.items.append(f)
        group.flagged += bool(f.hints)
        group.changed += f.changed
    return list(groups.values())
