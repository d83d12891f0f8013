"""What each role may *do*: the one place where roles are compared.

:mod:`apps.accounts.scoping` decides *which rows* a user sees (its jurisdiction, applied
inside the query); this module decides *which actions and surfaces* a user may use. Views,
the API, forms, services and tasks ask a named predicate here (``can_review(user)``) and
never compare ``user.role`` themselves. Pages use :func:`requires`, the API
:func:`api_permission`, querysets of personal jobs :func:`import_jobs_visible_to` /
:func:`export_jobs_visible_to`.

Roles and what they may do (inactive users and anonymous visitors: nothing):

============================  ========  ======  =========  ========  =====  ======
predicate                     企业填报员   专家     主管部门       部委       管理员    系统
============================  ========  ======  =========  ========  =====  ======
can_file (own enterprise)     yes       –       –          –         –      –
can_review                    –         –       yes        yes       yes    yes
can_read_insights             –         –       yes        yes       yes    yes
can_list_enterprises          –         –       yes        yes       yes    yes
can_import_enterprises        –         –       yes        yes       yes    yes
can_transfer                  –         –       yes        yes       yes    yes
can_move_enterprise_region    –         –       yes        yes       yes    yes
can_confirm_enterprises       –         –       yes        yes       yes    yes
can_see_draft_frameworks      –         –       –          yes       yes    yes
can_run_indices               –         –       –          yes       yes    yes
can_edit_reference_data       superusers only
can_use_admin                 Django's ``is_staff`` flag (the admin site checks model permissions itself)
============================  ========  ======  =========  ========  =====  ======

``can_review`` opens the review pages; *which stage* of a period's review chain a reviewer
may decide (county passes on, prefecture accepts) is in :mod:`apps.accounts.review_rules`.

A superuser counts as 系统管理员 whatever its role field says. Every action is further
limited to the user's jurisdiction by the querysets of :mod:`~apps.accounts.scoping`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from .models import Role
from .scoping import SYSTEM, is_system, jurisdiction_of, recorded_user  # noqa: F401  (re-exported)

SYSTEM_ROLE = "system"
AUTHORITY_ROLES = frozenset({Role.AUTHORITY, Role.MINISTRY, Role.ADMIN, SYSTEM_ROLE})
PLATFORM_ROLES = frozenset({Role.MINISTRY, Role.ADMIN, SYSTEM_ROLE})


def role_of(user) -> str | None:
    """The role that decides what ``user`` may do: ``None`` for nobody (anonymous, inactive,
    ``None``), ``"system"`` for the system actor, ``admin`` for a superuser."""
    if is_system(user):
        return SYSTEM_ROLE
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return user.role


# --- named predicates ------------------------------------------------------------------------


def is_enterprise_user(user) -> bool:
    """An active enterprise user attached to an enterprise."""
    return role_of(user) == Role.ENTERPRISE and bool(getattr(user, "enterprise_id", None))


def can_file(user, enterprise=None) -> bool:
    """May start, edit and submit filings — of ``enterprise`` when given (its own only)."""
    if not is_enterprise_user(user):
        return False
    return enterprise is None or getattr(enterprise, "pk", enterprise) == user.enterprise_id


def is_authority_or_staff(user) -> bool:
    """Regional authorities, ministry staff, system admins and the system actor."""
    return role_of(user) in AUTHORITY_ROLES


def is_platform_staff(user) -> bool:
    """Ministry staff, system admins and the system actor (nation-wide, platform-wide work)."""
    return role_of(user) in PLATFORM_ROLES


def is_regional_authority(user) -> bool:
    """A regional authority user (its jurisdiction is its region)."""
    return role_of(user) == Role.AUTHORITY and bool(getattr(user, "region_id", None))


def can_review(user) -> bool:
    """May return and accept submitted filings (inside the jurisdiction)."""
    return is_authority_or_staff(user)


def can_read_insights(user) -> bool:
    """May read the authority pages: dashboard, rankings, trends, enterprise lists, exports."""
    return is_authority_or_staff(user)


def can_list_enterprises(user) -> bool:
    """May read the enterprise list of the jurisdiction."""
    return is_authority_or_staff(user)


def can_import_enterprises(user) -> bool:
    """May import enterprise files (rows outside the jurisdiction are refused row by row)."""
    return is_authority_or_staff(user)


def can_transfer(user) -> bool:
    """May export submissions and import paper filings (inside the jurisdiction)."""
    return is_authority_or_staff(user)


def can_confirm_enterprises(user) -> bool:
    """May confirm self-registered enterprises (inside the jurisdiction) so that they count
    in indices and coverage."""
    return is_authority_or_staff(user)


def can_move_enterprise_region(user) -> bool:
    """May move an enterprise to another region (enterprise users may not move their own)."""
    return is_authority_or_staff(user)


def can_see_draft_frameworks(user) -> bool:
    """May read framework versions that are still drafts."""
    return is_platform_staff(user)


def can_run_indices(user) -> bool:
    """May start and publish index runs."""
    return is_platform_staff(user)


def can_read_every_cell(user) -> bool:
    """May read every index cell unsuppressed (the insider view of the whole country):
    ministry staff and administrators, whose jurisdiction is everything. The index-cell
    admin serves only them; staff of a region would otherwise read other regions'
    suppressed values there. Enterprise users never, whatever their flags."""
    if not getattr(user, "is_active", False) or is_enterprise_user(user):
        return False
    return jurisdiction_of(user).everything


def can_use_admin(user) -> bool:
    """May open the admin site (Django's own flag; the admin checks model permissions)."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def can_edit_reference_data(user) -> bool:
    """May correct region and industry rows by hand in the admin (superusers only)."""
    return bool(role_of(user) and user.is_superuser)


def home_region(user):
    """The region an authority's pages start from; ``None`` for everyone else."""
    return user.region if is_regional_authority(user) else None


# --- personal jobs -----------------------------------------------------------------------------


def import_jobs_visible_to(queryset, user):
    """Enterprise import jobs: a user sees their own; platform staff see all of them."""
    if role_of(user) is None:
        return queryset.none()
    if is_platform_staff(user):
        return queryset
    return queryset.filter(uploaded_by=user)


def export_jobs_visible_to(queryset, user):
    """Export jobs hold personal data of enterprises: only their owner sees them."""
    if role_of(user) is None or is_system(user):
        return queryset.none()
    return queryset.filter(owner=user)


# --- enforcement -------------------------------------------------------------------------------


def require(predicate: Callable[..., bool], user, message=None, *args) -> None:
    """Raise ``PermissionDenied`` (403) with ``message`` unless ``predicate(user, *args)``."""
    if not predicate(user, *args):
        raise PermissionDenied(message or _("您没有执行此操作的权限。"))


def requires(predicate: Callable[..., bool], message=None):
    """View decorator: log in first (anonymous → login page), then 403 with ``message``
    unless ``predicate(request.user)``."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require(predicate, request.user, message)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


def api_permission(predicate: Callable[..., bool], message=None) -> type[BasePermission]:
    """A DRF permission class that lets in authenticated users for whom ``predicate`` holds;
    others get 401 (not logged in) or 403 with ``message``."""

    class Allowed(BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and predicate(request.user))

    Allowed.message = message or _("您没有执行此操作的权限。")
    Allowed.__name__ = f"Allows_{predicate.__name__}"
    return Allowed


CanFile = api_permission(can_file, _("只有企业填报员可以填报诊断。"))
