"""Who may do what in pilot selection (apps.pilots). Named predicates and querysets only:
no view, API, form or task of apps.pilots compares roles itself.

* ministry staff, system admin: run calls (create, eligibility, assignment, aggregation,
  defence, notice, decision) and see every application;
* a recommending unit's authority (province, 计划单列市, 兵团 — see
  :func:`apps.accounts.scoping.recommending_unit_of`): the applications of its channel;
* an enterprise user: its own enterprise's applications;
* an expert: only the applications assigned to it, and other experts' scores on one of them
  only after submitting its own review;
* anyone else: nothing (published lists and cases are public through their own selectors).
"""

from __future__ import annotations

from .models import Role
from .permissions import is_enterprise_user, is_platform_staff, role_of
from .scoping import recommending_unit_of


def is_pilot_staff(user) -> bool:
    """Ministry staff, admins (and the system actor) run pilot calls."""
    return is_platform_staff(user)


def is_enterprise_applicant(user) -> bool:
    """An enterprise user applies for its own enterprise."""
    return is_enterprise_user(user)


def expert_of(user):
    """The active pool entry of an expert user, or None."""
    if role_of(user) != Role.EXPERT:
        return None
    from apps.pilots.models import Expert

    return Expert.objects.filter(user=user, is_active=True).first()


def applications_visible_to(user):
    """Applications ``user`` may read (404 for the rest)."""
    from apps.pilots.models import Application

    qs = Application.objects.all()
    if is_pilot_staff(user):
        return qs
    unit = recommending_unit_of(user)
    if unit is not None:
        return qs.filter(recommending_unit=unit)
    if is_enterprise_applicant(user):
        return qs.filter(enterprise_id=user.enterprise_id)
    expert = expert_of(user)
    if expert is not None:
        return qs.filter(assignments__expert=expert)
    return qs.none()


def can_recommend(user, application) -> bool:
    """Only the authority of the application's own recommending unit recommends or returns it."""
    unit = recommending_unit_of(user)
    return unit is not None and application.recommending_unit_id == unit.code


def can_edit_application(user, application) -> bool:
    return is_enterprise_applicant(user) and application.enterprise_id == user.enterprise_id


def assignments_of(user):
    """The assignments of an expert user (none for anyone else)."""
    from apps.pilots.models import Assignment

    expert = expert_of(user)
    if expert is None:
        return Assignment.objects.none()
    return Assignment.objects.filter(expert=expert)


def can_see_all_reviews(user, application) -> bool:
    """Staff always; an assigned expert once its own review of ``application`` is submitted."""
    if is_pilot_staff(user):
        return True
    return assignments_of(user).filter(application=application, review__submitted_at__isnull=False).exists()


# --- showcase cases: "from my region" for an authority ------------------------------------------


def has_own_region(user) -> bool:
    """An authority user, whose jurisdiction is a region (cases from it are marked for it)."""
    from .scoping import jurisdiction_of

    return jurisdiction_of(user).region_code is not None


def in_own_region(user, region_code: str | None) -> bool:
    from .scoping import jurisdiction_of

    return has_own_region(user) and bool(region_code) and jurisdiction_of(user).covers_region_code(region_code)


def own_region_q(user, prefix: str = "region"):
    """A Q over rows whose region (reached through ``prefix``) lies in the user's jurisdiction."""
    from django.db.models import Q

    from .scoping import jurisdiction_of

    j = jurisdiction_of(user)
    if not j.region_code:
        return Q(pk__in=[])
    field = {"province_code": f"{prefix}__province_code", "prefecture_code": f"{prefix}__prefecture_code"}.get(
        j.region_field, f"{prefix}_id")
    return Q(**{field: j.region_code})
