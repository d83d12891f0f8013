"""The review chain: who may decide a submitted filing at which stage.

Each period carries a review chain chosen by staff (``Period.review_chain``):

* **one level** (``one``) — as before: any reviewer whose jurisdiction holds the filing
  (county, prefecture or province authority, ministry, admin) returns or accepts it;
* **two levels** (``two``) — the county authority reviews first and either returns the
  filing or passes it on (初审通过，转报); only then may a reviewer at prefecture level or
  above accept it (or return it). A county authority cannot accept alone.

Ministry staff, system admins and the system actor stand above every level: in a two-level
chain they act as the final level at any stage (a correction path when a county office
has no user, and what paper imports by command use). A filing of a city with no county
level below it (东莞, 中山, 儋州: its county code is the city's own) has no county stage.

These predicates say what the *chain* allows; *which* filings a user may see at all is
decided by :mod:`apps.accounts.scoping` (``Submission.objects.visible_to``), which the
services check as well. Views, the API, bulk accept and paper imports all ask here.
"""

from __future__ import annotations

from apps.reference.models import RegionLevel

from .models import Role
from .permissions import can_review, is_platform_staff, role_of


class ReviewChain:
    """Values of ``Period.review_chain`` (the choices with their labels live on the model)."""

    ONE_LEVEL = "one"
    TWO_LEVEL = "two"


class ReviewStage:
    """Where a submitted filing stands in its chain."""

    FIRST = "first"   # two-level chain, waiting for the county's review
    FINAL = "final"   # waiting for the decision (one-level chain, or passed on by the county)


def review_stage(submission) -> str | None:
    """The stage of a submitted filing; ``None`` when it is not waiting for review."""
    if submission.status != "submitted":
        return None
    if needs_county_stage(submission) and submission.passed_on_at is None:
        return ReviewStage.FIRST
    return ReviewStage.FINAL


def needs_county_stage(submission) -> bool:
    """Whether the filing's period asks for a county review before the decision (two-level
    chain, and the filing lies in a real county)."""
    return (
        submission.period.review_chain == ReviewChain.TWO_LEVEL
        and bool(submission.county_code)
        and submission.county_code != submission.prefecture_code
    )


def is_county_reviewer(user) -> bool:
    """A regional authority of a county-level region."""
    return (
        role_of(user) == Role.AUTHORITY and bool(getattr(user, "region_id", None))
        and user.region.level == RegionLevel.COUNTY
    )


def is_final_reviewer(user) -> bool:
    """A reviewer who may take the final decision of a two-level chain: an authority at
    prefecture level or above (the 兵团 row counts as prefecture level), or platform staff."""
    if is_platform_staff(user):
        return True
    return (
        role_of(user) == Role.AUTHORITY and bool(getattr(user, "region_id", None))
        and user.region.level in (RegionLevel.PREFECTURE, RegionLevel.PROVINCE)
    )


def can_pass_on(user, submission) -> bool:
    """May pass a filing on to the next level (county stage of a two-level chain)."""
    return review_stage(submission) == ReviewStage.FIRST and is_county_reviewer(user)


def can_accept(user, submission) -> bool:
    """May accept the filing now (final stage of its chain, or platform staff)."""
    stage = review_stage(submission)
    if stage is None or not can_review(user):
        return False
    if not needs_county_stage(submission):
        return True
    if stage == ReviewStage.FIRST:
        return is_platform_staff(user)
    return is_final_reviewer(user)


def can_return(user, submission) -> bool:
    """May return the filing to the enterprise now: the reviewers of its current stage."""
    stage = review_stage(submission)
    if stage is None or not can_review(user):
        return False
    if not needs_county_stage(submission):
        return True
    if stage == ReviewStage.FIRST:
        return is_county_reviewer(user) or is_platform_staff(user)
    return is_final_reviewer(user)


def can_decide(user, submission) -> bool:
    """May take some review action on the filing now (pass on, accept or return)."""
    return can_accept(user, submission) or can_pass_on(user, submission) or can_return(user, submission)


def awaiting_decision_of(queryset, user):
    """Submitted filings of ``queryset`` whose current stage ``user`` may decide — the same
    rule as ``can_accept`` / ``can_pass_on`` / ``can_return``, as a filter (the queue's
    "待我处理"). Jurisdiction is applied by the caller's ``visible_to``."""
    from django.db.models import F, Q

    submitted = queryset.filter(status="submitted")
    if not can_review(user):
        return queryset.none()
    if is_platform_staff(user):
        return submitted
    one_level = Q(period__review_chain=ReviewChain.ONE_LEVEL) | Q(county_code="") | Q(county_code=F("prefecture_code"))
    if is_county_reviewer(user):
        return submitted.filter(one_level | Q(passed_on_at__isnull=True))
    if is_final_reviewer(user):
        return submitted.filter(one_level | Q(passed_on_at__isnull=False))
    return submitted.filter(one_level)


def stage_label(submission) -> str:
    """Which level the filing waits for, as a plain phrase for the page ('' when none)."""
    from django.utils.translation import gettext as _

    stage = review_stage(submission)
    if stage is None:
        return ""
    if not needs_county_stage(submission):
        return _("一级审核")
    if stage == ReviewStage.FIRST:
        return _("待县级主管部门初审（两级审核）")
    return _("县级已初审转报，待地市级审核（两级审核）")
